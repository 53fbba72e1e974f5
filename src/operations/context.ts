import type { Principal } from "../access/principal";
import { getConfig } from "../config";
import type { Env } from "../env";
import type { Trace } from "../lib/trace";
import { rateBudgetPort } from "../rate-budget/client";
import type { RateBudgetPort } from "../rate-budget/slot";
import { ConnectionStore } from "../storage/connection-store";
import { ticketLedger } from "../ticket-ledger/client";
import type { TicketLedgerPort } from "../ticket-ledger/types";
import { durableWriters } from "../writer/client";
import type { Writers } from "../writer/commands";

/**
 * The one place where dependencies are assembled from the Worker's bindings (routes, RPC and
 * the Cron Trigger all come here). What an operation runs with: the Worker's bindings (configuration is parsed once per
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

/** One-time tickets: the ticket ledger over TICKETS. */
export const ledgerFor = (env: Env): TicketLedgerPort => ticketLedger(getConfig(env).tickets());

/** The app-wide Finch rate budget; undefined when FINCH_RATE_BUDGET=off. */
export const budgetFor = (env: Env): RateBudgetPort | undefined => rateBudgetPort(getConfig(env).rateBudget());
