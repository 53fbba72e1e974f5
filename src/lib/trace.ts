/**
 * What one request did, collected as it runs and written as a single log line at the end.
 * Domain modules fill it in without knowing about HTTP; nothing secret goes in.
 */
export interface Trace {
  requestId: string;
  connectionId?: string;
  finchRequestId?: string;
  /** Upstream calls made (retries included); counted for the benchmark and the log. */
  upstreamCalls: number;
  /** Short, non-secret notes for the log line (e.g. why a callback was refused). */
  notes: string[];
  /** "ok" or the stable error code the request ended with. */
  outcome?: string;
  /**
   * Who acted (never secret): an API key's name or `key:` + 8 hex chars of its hash, `rpc`,
   * `connect`, `finch-webhook` or `cron`. The writer's audit trail records it.
   */
  actor?: string;
}

/**
 * Outcomes that look like an attack (a connection filed under the wrong customer): the log line
 * repeats them as `security_event`, so alerts match one field whichever path refused.
 */
const SECURITY_OUTCOMES: ReadonlySet<unknown> = new Set(["customer_mismatch", "connection_mismatch"]);

export const newTrace = (requestId: string): Trace => ({ requestId, upstreamCalls: 0, notes: [] });

/**
 * Writes the one JSON log line: `head` (level, msg, ids, ...) first, then the timing and what
 * the trace collected. Only ids, codes and numbers: never a URL query, header, body or token.
 */
export function logTrace(trace: Trace, started: number, head: Record<string, unknown>): void {
  const line: Record<string, unknown> = {
    ...head,
    duration_ms: Math.round((performance.now() - started) * 100) / 100,
    upstream_calls: trace.upstreamCalls,
  };
  if (trace.finchRequestId) line.finch_request_id = trace.finchRequestId;
  if (trace.connectionId) line.connection_id = trace.connectionId;
  if (trace.notes.length) line.notes = trace.notes;
  // A separate field so alerts can match on it; only a fixed code, never a value.
  if (SECURITY_OUTCOMES.has(head.outcome)) line.security_event = head.outcome;
  console.log(JSON.stringify(line));
}
