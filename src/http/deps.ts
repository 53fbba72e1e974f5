import type { Context } from "hono";
import { getConfig } from "../config";
import type { LedgerStart, TicketLedgerPort } from "../domain/connect";
import { AppError } from "../errors";
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

/** The ticket ledger over the TICKETS Durable Object namespace, one object per ticket id. */
export function ledgerOf(c: Context<AppEnv>): TicketLedgerPort {
  const ns = configOf(c).tickets();
  const stub = (jti: string) => ns.get(ns.idFromName(jti));
  // A failed call to the object is "try again", like any other storage failure.
  const guard = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch {
      throw new AppError("storage_unavailable", `ticket ledger ${what} failed`);
    }
  };
  return {
    // The RPC stub's type of a union result is a union of promises; the value is LedgerStart.
    start: (jti, input) => guard("start", async () => (await stub(jti).start(input)) as LedgerStart),
    record: (jti, session) => guard("record", () => stub(jti).record(session)),
    release: (jti) => guard("release", () => stub(jti).release()),
  };
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
