import { AppError } from "../errors";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import { type ConnectionFacts, MAX_ENTITIES } from "../storage/records";
import type { AuditPage } from "./audit";
import type { StatusReason, SyncJobClaim } from "./change-events";

/**
 * Every operation of a connection's writer, declared once: its arguments and its answer. The
 * Durable Object (one `execute` method), the callers' client, the simulation and the benchmark
 * all derive from this map; WriterOperations implements it (each method takes the arguments, then
 * the call's trace).
 */
export interface WriterOps {
  /** A completed Connect: Finch's token answer and the flow's customer. */
  connect(input: ConnectInput): ConnectionFacts;
  /** An access token the app already held; a connection already held for this customer stays as it is. */
  importConnection(input: ImportInput): Imported;
  /** The authoritative token, for the proxy's heal (internal: not recorded). */
  current(): CurrentToken;
  /** The token handed out to the app (the token endpoint, RPC getAccessToken): recorded as token_revealed. */
  revealToken(): CurrentToken;
  /** The audit trail after `afterSeq`, at most `limit` entries, with the chain checked. */
  auditTrail(afterSeq: number, limit: number): AuditPage;
  /** The connection's facts, for a read that missed in KV. */
  facts(): ConnectionFacts;
  /** Introspects with Finch (coalesced) and stores its answer; a status change is told with `reason`. */
  introspect(reason: StatusReason): Introspected;
  /** A webhook's prompt: ask Finch, store its answer, claim the event, forward `message`. */
  accountUpdated(eventId: string, message: unknown): WebhookOutcome;
  /** A Finch sync-job webhook: Finch is asked about the job before anything is recorded. */
  jobCompleted(eventId: string, job: SyncJobClaim, message: unknown): WebhookOutcome;
  /** The periodic re-check: introspects (reason "reconcile") unless Finch answered within `maxAgeMs`. */
  reconcile(maxAgeMs: number): ReconcileOutcome;
  /** Finch refused the token of generation `tokenGen`: a newer one, if the writer has it. */
  staleToken(tokenGen: number, reauth: boolean): CurrentToken | undefined;
  /**
   * Ends the connection at Finch, then commits its tombstone. `customers`: a caller limited to
   * them (null: any); another customer's connection is not found (checked on the writer's record).
   */
  disconnect(customers: readonly string[] | null): Disconnected;
  /** The token sealed again under the active key. */
  reencrypt(): ReencryptOutcome;
  /** Finch's POST /disconnect-entity for some of the connection's entities, and their new status stored. */
  disconnectEntities(entityIds: string[]): EntitiesDisconnected;
  /** Finch's POST /jobs/automated (data_sync_all) with the connection's token. */
  startSync(): SyncStarted;
}

export type WriterOp = keyof WriterOps;

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
  /** The entity ids Finch's token answer listed (a bounded prefix); null when it listed none. */
  entity_ids?: string[] | null;
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
  /** In the token answer (and a sandbox connection's); introspect lists `entities` instead. */
  entity_ids?: readonly string[] | null | undefined;
}

/** Finch's facts a connect input keeps under Finch's own names. */
const KEPT_FACTS = ["provider_id", "products", "client_type", "connection_type", "company_id", "account_id"] as const;

/** A writer's connect input: the app's customer and token, with what Finch said of the connection. */
export function connectInput(
  app: { accessToken: string; customerId: string; customerName: string; customerEmail: string | null },
  finch: FinchConnectionFacts,
): ConnectInput {
  return {
    ...app,
    finchCustomerName: finch.customer_name ?? null,
    ...orNull(finch, KEPT_FACTS),
    entity_ids: finch.entity_ids ? finch.entity_ids.slice(0, MAX_ENTITIES) : null,
  };
}

/** The `keys` of `source`, null where Finch did not say (absent and null read alike in a connect input). */
function orNull<S, K extends keyof S>(source: S, keys: readonly K[]): { [P in K]-?: NonNullable<S[P]> | null } {
  const picked = {} as { [P in K]-?: NonNullable<S[P]> | null };
  for (const key of keys) picked[key] = source[key] ?? null;
  return picked;
}

/** An access token the app already held, with what Finch's introspect said of it at the edge. */
export interface ImportInput {
  connect: ConnectInput;
  facts: Introspection;
  /** A connection Finch's sandbox has just made (`connection.created` says source "sandbox"). */
  source?: "sandbox";
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

/** "unverified": a job webhook Finch does not confirm (claimed, nothing recorded). */
export type WebhookOutcome = "applied" | "unchanged" | "duplicate" | "unknown_connection" | "unverified";

export interface EntitiesDisconnected {
  connection_id: string;
  /** The entity ids asked for (once each). */
  entity_ids: string[];
  /** true: Finch ended the whole connection with them (its last entities); it is disconnected here too. */
  connection_disconnected: boolean;
  /** The connection as stored after the change; null when it was disconnected. */
  connection: ConnectionFacts | null;
}

/** A data sync Finch started (or the one already running), with Finch's forced-refresh quota. */
export interface SyncStarted {
  job_id: string;
  allowed_refreshes: number;
  remaining_refreshes: number;
  /** When the next forced refresh is allowed (ISO-8601), when Finch says. */
  retry_at: string | null;
}
/** "fresh": Finch answered for it recently, not asked again; "checked": introspected now. */
export type ReconcileOutcome = "fresh" | "checked" | "gone";
export type ReencryptOutcome = "current" | "rewritten" | "old" | "unreadable" | "gone";

/** The operations, as a value: what `execute` accepts (a type test keeps it equal to WriterOps). */
export const WRITER_OPS = [
  "connect",
  "importConnection",
  "current",
  "revealToken",
  "auditTrail",
  "facts",
  "introspect",
  "accountUpdated",
  "jobCompleted",
  "reconcile",
  "staleToken",
  "disconnect",
  "reencrypt",
  "disconnectEntities",
  "startSync",
] as const satisfies readonly WriterOp[];

/** One call, as it crosses to the object. */
export type Command = { [K in WriterOp]: { op: K; args: Parameters<WriterOps[K]> } }[WriterOp];

/** Who asks, as the audit trail records it (never secret): the actor and the edge request's id. */
export interface Caller {
  actor: string;
  requestId: string;
}

/** The writer as a caller sees it: each operation with the call's trace last. */
export type Writer = {
  [K in WriterOp]: (...args: [...Parameters<WriterOps[K]>, Trace]) => Promise<ReturnType<WriterOps[K]>>;
};

export type Writers = (connectionId: string) => Writer;

/** What implements the operations (WriterOperations). */
export type WriterApi = Writer;

/** Runs one command on `api`; an operation that is not declared is refused, never looked up. */
export function execute(api: WriterApi, command: Command, trace: Trace): Promise<unknown> {
  if (!(WRITER_OPS as readonly string[]).includes(command.op) || !Array.isArray(command.args)) {
    return Promise.reject(new AppError("internal_error", "unknown writer operation"));
  }
  const run = api[command.op] as (...args: unknown[]) => Promise<unknown>;
  return run.apply(api, [...command.args, trace]);
}

/** A Writer whose every operation is `send`: the client over the object, or over an instance in this isolate. */
export function writerOver(send: (command: Command, trace: Trace) => Promise<unknown>): Writer {
  const writer: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const op of WRITER_OPS) {
    writer[op] = (...argsAndTrace: unknown[]) => {
      const trace = argsAndTrace.at(-1) as Trace;
      return send({ op, args: argsAndTrace.slice(0, -1) } as Command, trace);
    };
  }
  return writer as Writer;
}

/** The caller a trace speaks for. */
export const callerOf = (trace: Trace): Caller => ({ actor: trace.actor ?? "unknown", requestId: trace.requestId });
