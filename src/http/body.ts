import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "../errors";
import { readBounded } from "../finch/http";
import { CONNECTION_ID } from "../finch/schemas";
import type { AppEnv } from "./types";

/**
 * Request bodies and path parameters for the /api routes. None of the management routes
 * needs more than a small JSON object, so anything larger is refused before it is read
 * (by Content-Length, or while counting a chunked body).
 */
export const API_BODY_LIMIT = 16 * 1024;

export const apiBodyLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const req = c.req.raw;
  if (req.body) {
    // readBounded refuses by Content-Length first, then counts while reading.
    const text = await readBounded(new Response(req.body, { headers: req.headers }), API_BODY_LIMIT);
    if (text === undefined) throw new AppError("body_too_large", `api body over ${API_BODY_LIMIT} bytes`);
    // The routes only read the body as text (optionalJsonObject), which decodes it again: the
    // leading BOM makes that second decode strip exactly this one, so it sees `text` unchanged.
    c.req.raw = new Request(req, { body: `\uFEFF${text}` });
  }
  return next();
};

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

/** The :connection_id path parameter, checked against Finch's id shape before any KV read. */
export function connectionIdParam(c: Context<AppEnv>): string {
  const id = c.req.param("connection_id") ?? "";
  if (!CONNECTION_ID.test(id)) throw new AppError("param_invalid", "connection_id malformed");
  c.get("trace").connectionId = id;
  return id;
}
