import * as v from "valibot";
import { ERRORS, type ErrorCode } from "../errors";

/**
 * The typed failure of a `FinchConnections` RPC call. Workers RPC carries only an error's
 * message (and, for built-in error types, its name) across the binding; own properties are
 * dropped. So the fields travel as JSON in the message, and `FinchRpcError.from` rebuilds
 * them on the caller's side:
 *
 * ```ts
 * try { await env.FINCH.getConnection(id) } catch (e) {
 *   const err = FinchRpcError.from(e); // undefined for errors that are not ours
 *   if (err?.code === "connection_not_found") ...
 * }
 * ```
 *
 * The fields are the HTTP error body's (`docs/errors.md`) plus the status HTTP would use. No
 * detail, token or secret: the callee's log line has the detail under the same request id.
 */
export interface RpcErrorBody {
  code: ErrorCode;
  message: string;
  status: number;
  request_id: string;
}

const CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

const RpcErrorBodySchema = v.strictObject({
  code: v.picklist(CODES),
  message: v.string(),
  status: v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599)),
  request_id: v.string(),
});

export class FinchRpcError extends Error implements RpcErrorBody {
  readonly code: ErrorCode;
  readonly status: number;
  readonly request_id: string;

  constructor(body: RpcErrorBody) {
    super(JSON.stringify(body));
    this.name = "FinchRpcError";
    this.code = body.code;
    this.status = body.status;
    this.request_id = body.request_id;
  }

  /** The generic message alone (this error's `message` is the JSON form that crosses RPC). */
  get text(): string {
    return ERRORS[this.code].message;
  }

  /** Rebuilds our error from what the binding delivered; undefined for any other error. */
  static from(error: unknown): FinchRpcError | undefined {
    if (error instanceof FinchRpcError) return error;
    if (!(error instanceof Error)) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(error.message);
    } catch {
      return undefined;
    }
    const parsed = v.safeParse(RpcErrorBodySchema, json);
    return parsed.success ? new FinchRpcError(parsed.output) : undefined;
  }
}
