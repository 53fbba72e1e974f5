import { app } from "./app";
import type { Env } from "./env";
import { handleQueue } from "./events/queue";
import { handleScheduled } from "./scheduled";

/**
 * The Worker: HTTP through Hono, app-event delivery from Queues, the periodic re-introspection
 * from the Cron Trigger. Named entrypoints (RPC) are exported beside it.
 */
export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: handleScheduled,
} satisfies ExportedHandler<Env>;

export { EventDeadLetters } from "./durable/event-dead-letters";
export { RateBudget } from "./durable/rate-budget";
export { ReconcileCursor } from "./durable/reconcile-cursor";
export { TicketLedger } from "./durable/ticket-ledger";
export { FinchConnections } from "./rpc";
export { ConnectionWriter } from "./writer/object";
