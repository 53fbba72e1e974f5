/**
 * What crosses between the Connect flow (src/connect-flow/start.ts) and the ticket ledger's
 * object (object.ts), declared with the ledger so the object imports nothing of its callers.
 */
/** What the ticket ledger (a Durable Object per ticket id, object.ts) answers to a claim. */
export type LedgerStart =
  | { kind: "fresh" }
  | { kind: "resume"; sessionId: string; connectUrl: string }
  | { kind: "used" };

export interface LedgerStartInput {
  /** The ticket's exp, Unix seconds. */
  exp: number;
  /** Which flow the ticket started (redirect or embedded): a resume must be of the same one. */
  flow: string;
  /** SHA-256 (hex) of the state in this browser's pending cookie for this ticket, if it has one. */
  resumeStateHash?: string | undefined;
  /** Seconds after exp before the entry may be forgotten. */
  graceS: number;
}

export interface LedgerSession {
  stateHash: string;
  sessionId: string;
  connectUrl: string;
}

/** One-time tickets, consistent across every location. */
export interface TicketLedgerPort {
  start(jti: string, input: LedgerStartInput): Promise<LedgerStart>;
  record(jti: string, session: LedgerSession): Promise<void>;
  release(jti: string): Promise<void>;
}
