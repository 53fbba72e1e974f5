import * as v from "valibot";
import { AppError, type ErrorCode } from "../errors";
import { type FinchReply, parseErrorBody } from "./http";

/**
 * The second half of every Finch operation (api.ts, sandbox.ts, jobs.ts): a reply becomes a
 * validated result or a typed AppError. The detail names the field or Finch's error name, never
 * a value from the body.
 */
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
