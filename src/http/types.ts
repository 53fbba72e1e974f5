import type { Principal } from "../access/principal";
import type { Env } from "../env";
import type { Trace } from "../lib/trace";

/**
 * How failures are shown for a route:
 * - json: the API and machine endpoints.
 * - page: a browser navigation that answers a 4xx/5xx page itself (/connect).
 * - callback: a browser navigation that redirects to ERROR_URL when configured (/callback).
 */
export type Presentation = "json" | "page" | "callback";

export type AppEnv = {
  Bindings: Env;
  /** `principal`: set by apiAuth (http/api-auth.ts) for /api requests only. */
  Variables: { trace: Trace; presentation: Presentation; principal: Principal | undefined };
};
