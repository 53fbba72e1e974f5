import type { Context } from "hono";
import { getConfig } from "../config";
import { ConnectionStore } from "../storage/connections";
import { durableWriters } from "../writer/client";
import type { Writers } from "../writer/protocol";
import type { AppEnv } from "./types";

/** Builds domain dependencies from the request's bindings; configuration is parsed once per isolate. */
export const configOf = (c: Context<AppEnv>) => getConfig(c.env);

export function storeOf(c: Context<AppEnv>): ConnectionStore {
  const config = configOf(c);
  return new ConnectionStore(config.kv(), config.keyRing());
}

/**
 * Each connection's single writer (a Durable Object per connection id). The writer runs with
 * the same bindings and secrets, so its storage settings are checked here, at the edge:
 * a misconfigured deployment fails before anything irreversible (a code exchange) happens.
 */
export function writersOf(c: Context<AppEnv>): Writers {
  const config = configOf(c);
  config.kv();
  config.keyRing();
  return durableWriters(c.env);
}
