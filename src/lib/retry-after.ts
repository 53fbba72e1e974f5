/**
 * Retry-After as senders write it: delta seconds or an HTTP date. Used for Finch's answers
 * (finch/http.ts) and the app's webhook receiver (app-events/delivery.ts), both outside our control,
 * so only digits or the IMF-fixdate form are read; anything else is ignored rather than trusted.
 */

/** A Retry-After header in seconds, or undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^[0-9]{1,10}$/.test(text)) return Number(text);
  // Only the IMF-fixdate form HTTP uses ("Sun, 01 Mar 2026 12:05:00 GMT"): Date.parse reads far more.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Finch's wait in milliseconds: its `retry-after-ms` when that is a whole number, else Retry-After. */
export function retryAfterMs(headers: Headers, nowMs: number): number | undefined {
  const ms = headers.get("retry-after-ms")?.trim();
  if (ms !== undefined && /^[0-9]{1,12}$/.test(ms)) return Number(ms);
  const seconds = retryAfterSeconds(headers.get("retry-after"), nowMs);
  return seconds === undefined ? undefined : seconds * 1000;
}
