import { app } from "./app";
import { handleQueue } from "./app-events/queue";
import type { Env } from "./env";
import { handleScheduled } from "./maintenance/scheduled";

/**
 * The Worker: HTTP through Hono, app-event delivery from Queues, the periodic re-introspection
 * from the Cron Trigger. Named entrypoints (RPC) are exported beside it.
 */
export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: handleScheduled,
} satisfies ExportedHandler<Env>;

export { EventDeadLetters } from "./app-events/dead-letters-object";
export { ReconcileCursor } from "./maintenance/reconcile-cursor";
export { RateBudget } from "./rate-budget/object";
export { FinchConnections } from "./rpc/entrypoint";
export { TicketLedger } from "./ticket-ledger/object";
export { ConnectionWriter } from "./writer/object";
