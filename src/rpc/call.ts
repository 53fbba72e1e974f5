import * as v from "valibot";
import { AppError } from "../errors";
import type { ProxyCall } from "../proxy/proxy";

/**
 * The two ways an RPC caller can describe a Finch call, turned into the proxy's input.
 * - a Request: its method, headers and body; of its URL only the path and query are used
 *   (`new Request("https://finch/employer/company")`), the origin is ignored;
 * - a plain object: { method, path, query?, body?, headers? }, where `path` is written as in
 *   a URL ("/employer/directory") and a non-string body is sent as JSON.
 */
export interface FinchCall {
  method?: string | undefined;
  path: string;
  query?: string | Record<string, Scalar | Scalar[]> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
}

type Scalar = string | number | boolean;
const scalar = v.union([
  v.string(),
  v.boolean(),
  v.pipe(
    v.number(),
    v.check((n) => !Number.isNaN(n)),
  ),
]);

/**
 * The plain-object form. valibot's records copy own keys only and never `__proto__`,
 * `prototype` or `constructor`; an array's holes are not scalars, so a sparse array fails.
 */
const FinchCallSchema = v.object({
  method: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z]{1,16}$/))),
  path: v.pipe(v.string(), v.minLength(1), v.maxLength(2048)),
  query: v.optional(v.union([v.string(), v.record(v.string(), v.union([scalar, v.array(scalar)]))])),
  body: v.optional(v.unknown()),
  headers: v.optional(v.record(v.string(), v.string())),
});

const invalid = (field: string) => new AppError("param_invalid", `finch call ${field} invalid`);

/** Checked field by field; the first failing field is named in the log detail. */
function parseCall(input: unknown): FinchCall {
  const parsed = v.safeParse(FinchCallSchema, input);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  throw invalid((issue && v.getDotPath(issue)) || "(root)");
}

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

export function toProxyCall(input: unknown): Omit<ProxyCall, "connectionId"> {
  if (input instanceof Request) {
    const url = new URL(input.url);
    const declared = input.headers.get("content-length");
    return {
      method: input.method.toUpperCase(),
      path: url.pathname,
      search: url.search,
      headers: input.headers,
      body: input.body,
      bodyLength: declared !== null && /^[0-9]{1,15}$/.test(declared) ? Number(declared) : undefined,
    };
  }
  const call = parseCall(input);
  let headers: Headers;
  try {
    headers = new Headers(call.headers ?? {});
  } catch {
    throw invalid("headers");
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
    method: (call.method ?? (body === null ? "GET" : "POST")).toUpperCase(),
    path: call.path,
    search: search(call.query),
    headers,
    body,
  };
}
