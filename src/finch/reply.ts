import * as v from "valibot";
import { AppError, type ErrorCode } from "../errors";
import type { Trace } from "../lib/trace";
import { callFinch, type FinchReply, type FinchRequest, type FinchSettings, parseErrorBody } from "./http";

/**
 * The second half of every Finch operation (api.ts, sandbox.ts, jobs.ts): a reply becomes a
 * validated result or a typed AppError. The detail names the field or Finch's error name, never
 * a value from the body. `finchOperation` joins both halves, so an operation states only its
 * request and what it expects of the reply.
 */

/** What an operation expects of Finch's reply (finchOperation). */
export interface Expected<S extends v.GenericSchema, A> {
  /** Names the operation in every error detail ("introspect: 401 ..."). */
  what: string;
  schema: S;
  /** The statuses that are success: 200 alone unless said. */
  ok?: readonly number[];
  /** Finch's error names and statuses that map to an error code of ours (see `rejected`). */
  byName?: Partial<Record<string, ErrorCode>>;
  byStatus?: Partial<Record<number, ErrorCode>>;
  /**
   * A reply the operation reads as an answer of its own before the status check (a token
   * Finch no longer takes, a job Finch does not know): that answer, or undefined to go on.
   */
  answer?: (reply: FinchReply) => A | undefined;
}

const OK_200: readonly number[] = [200];

/** Finch's answer to application credentials it does not know, for every call made with them. */
export const INVALID_CLIENT = { invalid_client_error: "finch_invalid_client" } as const;

/** One call to Finch, its reply checked against `expected`: the parsed body, or `answer`'s. */
export async function finchOperation<S extends v.GenericSchema, A = never>(
  settings: FinchSettings,
  request: FinchRequest,
  expected: Expected<S, A>,
  trace: Trace,
): Promise<v.InferOutput<S> | A> {
  const reply = await callFinch(settings, request, trace);
  const own = expected.answer?.(reply);
  if (own !== undefined) return own;
  if (!(expected.ok ?? OK_200).includes(reply.status)) {
    throw rejected(reply, expected.what, expected.byName, expected.byStatus);
  }
  return parse(expected.schema, reply, expected.what);
}

export function parse<S extends v.GenericSchema>(schema: S, reply: FinchReply, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, reply.body);
  if (!result.success) {
    const field = result.issues[0] ? v.getDotPath(result.issues[0]) : undefined;
    throw new AppError("finch_bad_response", `${what}: field ${field ?? "(root)"} invalid`);
  }
  return result.output;
}

/**
 * Maps a non-2xx reply that is not 429/5xx (those throw in callFinch): reauthenticate_user
 * first, then Finch's error name, then the status, else finch_rejected.
 */
export function rejected(
  reply: FinchReply,
  what: string,
  byName: Partial<Record<string, ErrorCode>> = {},
  byStatus: Partial<Record<number, ErrorCode>> = {},
): AppError {
  const { name, finchCode } = parseErrorBody(reply.body);
  const detail = `${what}: ${reply.status} ${name ?? "?"}${finchCode ? `/${finchCode}` : ""}`;
  if (finchCode === "reauthenticate_user") return new AppError("finch_reauthenticate", detail);
  const mapped = (name ? byName[name] : undefined) ?? byStatus[reply.status];
  if (mapped) return new AppError(mapped, detail);
  if (reply.status === 401 && what === "token exchange") return new AppError("finch_invalid_client", detail);
  return new AppError("finch_rejected", detail);
}
