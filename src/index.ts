import { app } from "./app";
import type { Env } from "./env";

/** The Worker: HTTP through Hono. Named entrypoints (RPC) are exported beside it. */
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

export { RateBudget } from "./durable/rate-budget";
export { TicketLedger } from "./durable/ticket-ledger";
export { FinchConnections } from "./rpc";
