import { AppError } from "../errors";
import { utf8 } from "../lib/encoding";

/**
 * Refuses a Cookie header over 8 KiB before anything reads it. Our flow cookies stay under
 * 4 KiB each and browsers send little more, so a larger header is hostile or broken, and
 * cutting it off here bounds the work of every cookie parser behind it (issue 9, finding 3).
 * Run for every request by the request frame (src/http/frame.ts), before routing.
 */
export const MAX_COOKIE_HEADER = 8 * 1024;

export function refuseLargeCookie(headers: Headers): void {
  const header = headers.get("Cookie");
  // Length counts UTF-16 units; only a header that could reach the limit in UTF-8 is encoded.
  if (
    header !== null &&
    (header.length > MAX_COOKIE_HEADER ||
      (header.length * 3 > MAX_COOKIE_HEADER && utf8(header).byteLength > MAX_COOKIE_HEADER))
  ) {
    throw new AppError("cookie_too_large", `Cookie header over ${MAX_COOKIE_HEADER} bytes`);
  }
}
