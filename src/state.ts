import type { Env } from "./env";
import { AppError, errorBody } from "./errors";

/**
 * The state Worker (wrangler.state.toml): the Durable Object classes and nothing else. The
 * public Worker (src/index.ts) binds them with `script_name`, so the bundle every public
 * isolate loads leaves out the code only an object runs. It has no route: anything that
 * reaches its fetch (it has no public URL) is answered 404.
 */
export default {
  fetch: () => Response.json(errorBody(new AppError("not_found"), "none"), { status: 404 }),
} satisfies ExportedHandler<Env>;

export { EventDeadLetters } from "./app-events/dead-letters-object";
export { ReconcileCursor } from "./maintenance/reconcile-cursor";
export { RateBudget } from "./rate-budget/object";
export { TicketLedger } from "./ticket-ledger/object";
export { ConnectionWriter } from "./writer/object";
