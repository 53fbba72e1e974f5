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
}

export const newTrace = (requestId: string): Trace => ({ requestId, upstreamCalls: 0, notes: [] });
