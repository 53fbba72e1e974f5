import type { Context } from "hono";
import { getConfig } from "../config";
import type { LedgerStart, TicketLedgerPort } from "../domain/connect";
import { AppError } from "../errors";
import { type OperationContext, storeFor, writersFor } from "../operations/context";
import type { ConnectionStore } from "../storage/connections";
import type { Writers } from "../writer/commands";
import type { AppEnv } from "./types";

/** Builds domain dependencies from the request's bindings; configuration is parsed once per isolate. */
export const configOf = (c: Context<AppEnv>) => getConfig(c.env);

export const storeOf = (c: Context<AppEnv>): ConnectionStore => storeFor(c.env);

/** Each connection's single writer, its storage settings checked first (src/operations/context.ts). */
export const writersOf = (c: Context<AppEnv>): Writers => writersFor(c.env);

/**
 * What an operation (src/operations/) runs with: this request's bindings, trace, and the caller
 * apiAuth authenticated. A route outside apiAuth has no caller: that is a bug, and fails closed.
 */
export function opContext(c: Context<AppEnv>): OperationContext {
  const principal = c.get("principal");
  if (!principal) throw new AppError("internal_error", "operation called without an authenticated caller");
  const trace = c.get("trace");
  trace.actor = principal.actor;
  return { env: c.env, trace, principal };
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
