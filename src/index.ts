import { app } from "./app";
import { handleQueue } from "./app-events/queue";
import type { Env } from "./env";
import { handleScheduled } from "./maintenance/scheduled";

/**
 * The public Worker: HTTP through Hono, app-event delivery from Queues, the periodic
 * re-introspection from the Cron Trigger, and the RPC entrypoint. The Durable Object classes
 * live in the state Worker (src/state.ts, wrangler.state.toml), bound here by `script_name`.
 */
export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: handleScheduled,
} satisfies ExportedHandler<Env>;

export { FinchConnections } from "./rpc/entrypoint";
