import type { Context } from "hono";
import { getConfig } from "../config";
import { ConnectionStore } from "../storage/connections";
import type { AppEnv } from "./types";

/** Builds domain dependencies from the request's bindings; configuration is parsed once per isolate. */
export const configOf = (c: Context<AppEnv>) => getConfig(c.env);

export function storeOf(c: Context<AppEnv>): ConnectionStore {
  const config = configOf(c);
  return new ConnectionStore(config.kv(), config.keyRing());
}
