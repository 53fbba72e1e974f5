import * as v from "valibot";
import type { ProxyCall } from "./domain/proxy";
import { AppError } from "./errors";

/**
 * The two ways an RPC caller can describe a Finch call, turned into the proxy's input.
 * - a Request: its method, headers and body; of its URL only the path and query are used
 *   (`new Request("https://finch/employer/company")`), the origin is ignored;
 * - a plain object: { method, path, query?, body?, headers? }, where `path` is written as in
 *   a URL ("/employer/directory") and a non-string body is sent as JSON.
 */
export interface FinchCall {
  method?: string;
  path: string;
  query?: string | Record<string, string | number | boolean | (string | number | boolean)[]>;
  body?: unknown;
  headers?: Record<string, string>;
}

const scalar = v.union([v.string(), v.number(), v.boolean()]);
const FinchCallSchema = v.object({
  method: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z]{1,16}$/))),
  path: v.pipe(v.string(), v.minLength(1), v.maxLength(2048)),
  query: v.optional(v.union([v.string(), v.record(v.string(), v.union([scalar, v.array(scalar)]))])),
  body: v.optional(v.unknown()),
  headers: v.optional(v.record(v.string(), v.string())),
});

function search(query: FinchCall["query"]): string {
  if (query === undefined) return "";
  if (typeof query === "string") return query === "" || query.startsWith("?") ? query : `?${query}`;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function toProxyCall(connectionId: string, input: unknown): ProxyCall {
  if (input instanceof Request) {
    const url = new URL(input.url);
    const declared = input.headers.get("content-length");
    return {
      connectionId,
      method: input.method.toUpperCase(),
      path: url.pathname,
      search: url.search,
      headers: input.headers,
      body: input.body,
      bodyLength: declared !== null && /^[0-9]{1,15}$/.test(declared) ? Number(declared) : undefined,
    };
  }
  const parsed = v.safeParse(FinchCallSchema, input);
  if (!parsed.success) {
    const field = parsed.issues[0] ? v.getDotPath(parsed.issues[0]) : undefined;
    throw new AppError("param_invalid", `finch call ${field ?? "(root)"} invalid`);
  }
  const call = parsed.output;
  let headers: Headers;
  try {
    headers = new Headers(call.headers ?? {});
  } catch {
    throw new AppError("param_invalid", "finch call headers invalid");
  }
  let body: string | null = null;
  if (typeof call.body === "string") body = call.body;
  else if (call.body !== undefined && call.body !== null) {
    try {
      body = JSON.stringify(call.body);
    } catch {
      throw new AppError("param_invalid", "finch call body is not JSON-serialisable");
    }
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return {
    connectionId,
    method: (call.method ?? (body === null ? "GET" : "POST")).toUpperCase(),
    path: call.path,
    search: search(call.query),
    headers,
    body,
  };
}
