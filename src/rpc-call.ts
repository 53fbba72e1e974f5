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

const isObject = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object";
type Scalar = string | number | boolean;
const isScalar = (x: unknown): x is Scalar =>
  typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && !Number.isNaN(x));
const invalid = (field: string) => new AppError("param_invalid", `finch call ${field} invalid`);

/**
 * A checked copy of a map, as a schema's record would make it: own keys only, never
 * `__proto__`, `prototype` or `constructor`; throws naming the field (and key) that fails.
 */
function record<T>(map: Record<string, unknown>, ok: (x: unknown) => x is T, field: (key: string) => string) {
  const out: Record<string, T> = {};
  for (const key of Object.keys(map)) {
    if (key === "__proto__" || key === "prototype" || key === "constructor") continue;
    const value = map[key];
    if (!ok(value)) throw invalid(field(key));
    out[key] = value;
  }
  return out;
}

/** The plain-object form, checked field by field (first failing field named in the log detail). */
function parseCall(input: unknown): FinchCall {
  if (!isObject(input)) throw invalid("(root)");
  const { method, path, query, body, headers } = input;
  if (method !== undefined && (typeof method !== "string" || !/^[A-Za-z]{1,16}$/.test(method))) throw invalid("method");
  if (typeof path !== "string" || path.length < 1 || path.length > 2048) throw invalid("path");
  let search: FinchCall["query"];
  if (isObject(query)) {
    // A scalar or an array of scalars; a sparse array's holes are not scalars.
    const item = (x: unknown): x is Scalar | Scalar[] => isScalar(x) || (Array.isArray(x) && [...x].every(isScalar));
    search = record(query, item, () => "query");
  } else if (query === undefined || typeof query === "string") search = query;
  else throw invalid("query");
  if (headers !== undefined && !isObject(headers)) throw invalid("headers");
  const isString = (x: unknown): x is string => typeof x === "string";
  return {
    method,
    path,
    query: search,
    body,
    headers: headers && record(headers, isString, (key) => `headers.${key}`),
  };
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
