import { Hono } from "hono";
import type { AppEnv } from "./types";

/**
 * Every Hono app and sub-router of this Worker, typed with its bindings and variables.
 * Hono's default router with its default strict matching: a route matches its path only,
 * never the path with a trailing slash, so DELETE /api/connections/<id>/ is not a delete
 * (a URL like .../finchX/.%2e/ normalises to that; test/operations/connections.test.ts pins it).
 */
export const newApp = () => new Hono<AppEnv>({ strict: true });
