import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../errors";
import type { AppEnv } from "./types";

/**
 * Request bodies and path parameters for the /api routes. None of the management routes
 * needs more than a small JSON object, so anything larger is refused before it is read
 * (by Content-Length, or while counting a chunked body), with our own 413 body_too_large.
 */
const API_BODY_LIMIT = 16 * 1024;

export const apiBodyLimit = bodyLimit({
  maxSize: API_BODY_LIMIT,
  onError: () => {
    throw new AppError("body_too_large", `api body over ${API_BODY_LIMIT} bytes`);
  },
});

/**
 * The body of a management POST/DELETE: empty, or a JSON object. Nothing in it is used
 * today, but garbage is refused rather than ignored so a caller's bug surfaces early.
 */
export async function optionalJsonObject(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError("body_invalid", "body is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AppError("body_invalid", "body is not a JSON object");
  }
  return parsed as Record<string, unknown>;
}
