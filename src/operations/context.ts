import { getConfig } from "../config";
import type { Env } from "../env";
import type { Trace } from "../lib/trace";
import { ConnectionStore } from "../storage/connections";
import { durableWriters } from "../writer/client";
import type { Writers } from "../writer/protocol";

/**
 * What an operation runs with: the Worker's bindings (configuration is parsed once per
 * isolate from them) and the trace of the request or RPC call it serves.
 */
export interface OperationContext {
  env: Env;
  trace: Trace;
}

export function storeFor(env: Env): ConnectionStore {
  const config = getConfig(env);
  return new ConnectionStore(config.kv(), config.keyRing());
}

/**
 * Each connection's single writer (a Durable Object per connection id). The writer runs with
 * the same bindings and secrets, so its storage settings are checked here, at the edge:
 * a misconfigured deployment fails before anything irreversible (a code exchange) happens.
 */
export function writersFor(env: Env): Writers {
  const config = getConfig(env);
  config.kv();
  config.keyRing();
  return durableWriters(env);
}
