import { AppError, ERRORS, type ErrorCode } from "../errors";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import type { ConnectionFacts } from "../storage/records";
import type { StatusReason, SyncJob } from "./emit";

/**
 * What crosses the Durable Object boundary. An exception thrown inside an object reaches the
 * caller as a bare Error (its class and fields lost), so every writer call answers an
 * Outcome instead: the value, or our stable error code with its log-only detail (which by
 * the AppError rule never holds a token). What the call did at Finch travels back too, so
 * the request's one log line tells the whole story.
 */
export interface CallTrace {
  notes: string[];
  upstream: number;
  finchRequestId?: string;
}

export type Outcome<T> = (
  | { ok: true; value: T }
  | { ok: false; code: ErrorCode; detail?: string; headers?: Record<string, string> }
) & {
  trace: CallTrace;
};

/** Runs `work` and turns its result or failure into an Outcome; unknown errors become internal_error. */
export async function settle<T>(trace: Trace, work: () => Promise<T>): Promise<Outcome<T>> {
  const done = (): CallTrace => ({
    notes: trace.notes,
    upstream: trace.upstreamCalls,
    ...(trace.finchRequestId ? { finchRequestId: trace.finchRequestId } : {}),
  });
  try {
    const value = await work();
    return { ok: true, value, trace: done() };
  } catch (e) {
    const error = e instanceof AppError ? e : new AppError("internal_error", e instanceof Error ? e.name : "non-error");
    return {
      ok: false,
      code: error.code,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      ...(error.headers === undefined ? {} : { headers: error.headers }),
      trace: done(),
    };
  }
}

/** The caller's side: merges what the writer did into `trace`, then returns the value or throws the AppError. */
export function unwrap<T>(outcome: Outcome<T>, trace: Trace): T {
  trace.notes.push(...outcome.trace.notes);
  trace.upstreamCalls += outcome.trace.upstream;
  if (outcome.trace.finchRequestId) trace.finchRequestId = outcome.trace.finchRequestId;
  if (outcome.ok) return outcome.value;
  const code: ErrorCode = outcome.code in ERRORS ? outcome.code : "internal_error";
  throw new AppError(code, outcome.detail, outcome.headers ? { headers: outcome.headers } : undefined);
}

/** A successful connect's input: what Finch's token answer and the Connect flow say. */
export interface ConnectInput {
  accessToken: string;
  customerId: string;
  customerName: string;
  /** Finch's customer_name, which wins when Finch sends one. */
  finchCustomerName: string | null;
  customerEmail: string | null;
  provider_id: string | null;
  products: string[] | null;
  client_type: string | null;
  connection_type: string | null;
  company_id: string | null;
  account_id: string | null;
}

/** What Finch says of a connection, in its token answer or its introspect answer alike. */
export interface FinchConnectionFacts {
  customer_name?: string | null | undefined;
  provider_id?: string | null | undefined;
  products?: string[] | null | undefined;
  client_type?: string | null | undefined;
  connection_type?: string | null | undefined;
  company_id?: string | null | undefined;
  account_id?: string | null | undefined;
}

/** A writer's connect input: the app's customer and token, with what Finch said of the connection. */
export function connectInput(
  app: { accessToken: string; customerId: string; customerName: string; customerEmail: string | null },
  finch: FinchConnectionFacts,
): ConnectInput {
  return {
    ...app,
    finchCustomerName: finch.customer_name ?? null,
    provider_id: finch.provider_id ?? null,
    products: finch.products ?? null,
    client_type: finch.client_type ?? null,
    connection_type: finch.connection_type ?? null,
    company_id: finch.company_id ?? null,
    account_id: finch.account_id ?? null,
  };
}

/** An access token the app already held, with what Finch's introspect said of it at the edge. */
export interface ImportInput {
  connect: ConnectInput;
  facts: Introspection;
}

/** An import's answer: the stored connection, and whether this call stored it. */
export interface Imported {
  connection: ConnectionFacts;
  created: boolean;
}

export interface Introspected extends ConnectionFacts {
  /** As Finch reported it; not stored. */
  status_message: string | null;
}

/** The authoritative token, for the token endpoint and the proxy's heal. */
export interface CurrentToken {
  token: string;
  tokenGen: number;
  gen: number;
  /** Whose connection it is, by the writer's own record (a caller limited to customers is checked on it). */
  customerId: string;
}

export interface Disconnected {
  connection_id: string;
  disconnected: true;
  /** "already_invalid": Finch no longer accepted the token; the record was removed anyway. */
  finch: "disconnected" | "already_invalid";
}

export type PromptOutcome = "applied" | "unchanged" | "duplicate" | "unknown_connection";
/** "fresh": Finch answered for it recently, not asked again; "checked": introspected now. */
export type ReconcileOutcome = "fresh" | "checked" | "gone";
export type ResealOutcome = "current" | "rewritten" | "old" | "unreadable" | "gone";

/**
 * The connection's single writer, as a caller sees it (src/writer/client.ts builds one over
 * the Durable Object stub). Each method is one named operation, serialized in the object.
 */
export interface Writer {
  connect(input: ConnectInput, trace: Trace): Promise<ConnectionFacts>;
  /**
   * Stores an imported token for a connection this writer does not hold yet, exactly as a
   * connect would; a connection it already holds (same customer) is left as it is.
   */
  importConnection(input: ImportInput, trace: Trace): Promise<Imported>;
  current(trace: Trace): Promise<CurrentToken>;
  /** The connection's facts, from the writer's own storage (a read that missed in KV heals here). */
  facts(trace: Trace): Promise<ConnectionFacts>;
  /**
   * Introspects with Finch (coalesced) and stores Finch's answer; a status change is told with
   * `reason` (default "introspect").
   */
  refresh(trace: Trace, reason?: StatusReason): Promise<Introspected>;
  /** A webhook's prompt: dedupe on the event id, introspect, store, then fan `message` out. */
  prompt(eventId: string, message: unknown, trace: Trace): Promise<PromptOutcome>;
  /** A Finch job webhook (a sync finished): dedupe on the event id, record it, then fan `message` out. */
  jobCompleted(eventId: string, job: SyncJob, message: unknown, trace: Trace): Promise<PromptOutcome>;
  /** The periodic re-check: introspects (reason "reconcile") unless Finch answered within `maxAgeMs`. */
  reconcile(maxAgeMs: number, trace: Trace): Promise<ReconcileOutcome>;
  /**
   * Finch refused the token of generation `tokenGen` (read from KV). A newer token, if the
   * writer has one; else, when `reauth`, records that Finch asks for re-authentication.
   */
  staleToken(tokenGen: number, reauth: boolean, trace: Trace): Promise<CurrentToken | undefined>;
  disconnect(trace: Trace): Promise<Disconnected>;
  reseal(trace: Trace): Promise<ResealOutcome>;
}

export type Writers = (connectionId: string) => Writer;
