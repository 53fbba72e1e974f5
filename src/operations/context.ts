import { getConfig } from "../config";
import type { Env } from "../env";
import type { Trace } from "../lib/trace";
import { ConnectionStore } from "../storage/connections";
import { durableWriters } from "../writer/client";
import type { Writers } from "../writer/commands";
import type { Principal } from "./principal";

/**
 * What an operation runs with: the Worker's bindings (configuration is parsed once per
 * isolate from them), the trace of the request or RPC call it serves, and who is calling.
 */
export interface OperationContext {
  env: Env;
  trace: Trace;
  /**
   * The authenticated caller: its scopes and customers (checked by each operation first) and
   * `principal.actor`, the non-secret name an audit record gives whoever acted.
   */
  principal: Principal;
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
