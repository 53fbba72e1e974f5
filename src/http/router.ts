import { HonoBase } from "hono/hono-base";
import { TrieRouter } from "hono/router/trie-router";
import type { AppEnv } from "./types";

/**
 * Every Hono app and sub-router of this Worker. One router flavour for all of them, so the
 * bundle carries one router only: Hono's default SmartRouter ships the RegExp and Trie routers
 * together. TrieRouter matches exactly as the default does, trailing slashes included (a
 * non-wildcard route does not match "/path/"); PatternRouter (hono/tiny) would also match
 * "/api/connections/<id>/" for DELETE /api/connections/:connection_id.
 */
export const newApp = () => new HonoBase<AppEnv>({ router: new TrieRouter() });
