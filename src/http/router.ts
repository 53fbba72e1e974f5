import { HonoBase } from "hono/hono-base";
import { type Router, UnsupportedPathError } from "hono/router";
import type { AppEnv } from "./types";

const emptyParams: Record<string, string> = Object.create(null);

/**
 * Hono's PatternRouter (one regular expression per route, tried in order), but exact: a
 * route matches its path only, never the path with a trailing slash. That is how Hono's
 * default router matches; PatternRouter (hono/tiny) would route DELETE /api/connections/<id>/
 * to DELETE /api/connections/:connection_id. Only the route syntax this Worker uses:
 * static segments, `:name` parameters, and `*` or a trailing `/*` (the path and below).
 * test/router.test.ts checks it against Hono's RegExpRouter on every route of the app.
 */
export class ExactRouter<T> implements Router<T> {
  name = "ExactRouter";
  #routes: [RegExp, string, T][] = [];

  add(method: string, path: string, handler: T): void {
    const below = path.endsWith("*");
    const fixed = below ? path.slice(0, -1).replace(/\/$/, "") : path;
    if (/[*?{}()]/.test(fixed)) throw new UnsupportedPathError();
    const pattern = fixed.replace(/[.\\+[^\]$|]/g, "\\$&").replace(/\/:(\w+)/g, "/(?<$1>[^/]+)");
    this.#routes.push([new RegExp(`^${pattern}${below ? "(?:/|$)" : "$"}`), method, handler]);
  }

  match(method: string, path: string): [[T, Record<string, string>][]] {
    const handlers: [T, Record<string, string>][] = [];
    for (const [pattern, routeMethod, handler] of this.#routes) {
      if (routeMethod !== method && routeMethod !== "ALL") continue;
      const found = pattern.exec(path);
      if (found) handlers.push([handler, found.groups ?? emptyParams]);
    }
    return [handlers];
  }
}

/** Every Hono app and sub-router of this Worker: one router flavour, so one router in the bundle. */
export const newApp = () => new HonoBase<AppEnv>({ router: new ExactRouter() });
