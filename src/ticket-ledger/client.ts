import { objectCall } from "../lib/object-call";
import type { TicketLedger } from "./object";
import type { LedgerStart, TicketLedgerPort } from "./types";

/** The ticket ledger over its namespace: one object per ticket id (object.ts). */
export function ticketLedger(ns: DurableObjectNamespace<TicketLedger>): TicketLedgerPort {
  const stub = (jti: string) => ns.get(ns.idFromName(jti));
  return {
    // The RPC stub's type of a union result is a union of promises; the value is LedgerStart.
    start: (jti, input) => objectCall("ticket ledger start", async () => (await stub(jti).start(input)) as LedgerStart),
    record: (jti, session) => objectCall("ticket ledger record", () => stub(jti).record(session)),
    release: (jti) => objectCall("ticket ledger release", () => stub(jti).release()),
  };
}
