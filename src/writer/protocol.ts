import { AppError, ERRORS, type ErrorCode } from "../errors";
import type { Trace } from "../lib/trace";

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
