import { app } from "./app";
import type { Env } from "./env";

/** The Worker: HTTP through Hono. Named entrypoints (RPC) are exported beside it. */
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

export { FinchConnections } from "./rpc";
export { ConnectionWriter } from "./writer/object";
