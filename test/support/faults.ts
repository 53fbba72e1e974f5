import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import type { Env } from "../../src/env";
import { ERRORS, type ErrorCode } from "../../src/errors";
import { MAX_FINCH_BODY } from "../../src/finch/http";
import { expectNoSecrets } from "./assert";
import { finch, type Override } from "./finch";
import { kvEntries } from "./fixtures";
import { workerWith } from "./worker";

/**
 * The ways an upstream call can fail, and one runner that checks what every Finch call made
 * through callFinch must do about each: the documented code and status, storage exactly as
 * it was, retries only where src/finch/http.ts says a repeat is safe, no secret and no
 * upstream text in the answer.
 */

/** The lowest FINCH_TIMEOUT_MS config accepts: a hang then costs 100 ms instead of 2 s. */
export const FAST_TIMEOUT_MS = 100;
/**
 * The Worker with that timeout (its own env object, so config.ts parses it once). `vars` adds
 * settings, e.g. ownBudget() for proxy faults (a Finch 429 pauses the product's budget).
 */
export const fastWorker = (vars: Partial<Env> = {}) =>
  workerWith({ FINCH_TIMEOUT_MS: String(FAST_TIMEOUT_MS), ...vars });

/** Text only an upstream answer holds; finding it in our answer means upstream text leaked through. */
export const UPSTREAM_MARKER = "upstream-marker-7f3a";

export interface Fault {
  name: string;
  respond: Override;
  /** What an operation built on callFinch answers. */
  code: ErrorCode;
  /** Backoff callFinch asks for between attempts when the call is idempotent ([] = one attempt). */
  retryDelays: number[];
  /** Retry-After on our answer, when Finch's value is passed on. */
  retryAfter?: string;
}

const finchError = (status: number, name: string, headers: Record<string, string> = {}) =>
  Response.json({ code: status, name, message: `${UPSTREAM_MARKER} ${name}` }, { status, headers });

/** A JSON 200 whose body never ends: only a bounded reader gets past it. */
function endlessBody(): Response {
  const chunk = new TextEncoder().encode(`{"padding":"${"x".repeat(64 * 1024)}`);
  return new Response(new ReadableStream({ pull: (c) => c.enqueue(chunk) }), {
    headers: { "content-type": "application/json" },
  });
}

/** Fails every schema we parse Finch with: every field we read has the wrong type. */
const WRONG_SHAPE = {
  session_id: 7,
  connect_url: false,
  access_token: 42,
  connection_id: 12345,
  connection_status: "broken",
  status: 1,
  marker: UPSTREAM_MARKER,
};

export const FAULTS: Fault[] = [
  {
    name: "connection refused",
    respond: () => {
      throw new TypeError("fetch failed");
    },
    code: "finch_unavailable",
    retryDelays: [200],
  },
  {
    name: "no answer until the request times out",
    respond: (req) => new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason))),
    code: "finch_timeout",
    // The request may have reached Finch: a timeout is never repeated.
    retryDelays: [],
  },
  {
    name: "500 with Finch's error body",
    respond: () => finchError(500, "server_error"),
    code: "finch_unavailable",
    retryDelays: [],
  },
  {
    name: "502 with an HTML body",
    respond: () =>
      new Response(`<html><body><h1>502 Bad Gateway</h1>${UPSTREAM_MARKER}</body></html>`, {
        status: 502,
        headers: { "content-type": "text/html" },
      }),
    code: "finch_unavailable",
    retryDelays: [200],
  },
  {
    name: "503 every time",
    respond: () => finchError(503, "service_unavailable"),
    code: "finch_unavailable",
    retryDelays: [200],
  },
  // A 429 is never retried, however short Finch's wait: a retry is more load on a Finch
  // that asked for less. Its Retry-After is passed on in whole seconds, rounded up.
  {
    name: "429 without Retry-After",
    respond: () => finchError(429, "rate_limit_error"),
    code: "finch_rate_limited",
    retryDelays: [],
  },
  {
    name: "429 with Retry-After: 1",
    respond: () => finchError(429, "rate_limit_error", { "retry-after": "1" }),
    code: "finch_rate_limited",
    retryDelays: [],
    retryAfter: "1",
  },
  {
    name: "429 with retry-after-ms: 1500",
    respond: () => finchError(429, "rate_limit_error", { "retry-after-ms": "1500" }),
    code: "finch_rate_limited",
    retryDelays: [],
    retryAfter: "2",
  },
  {
    name: "429 with Retry-After: 120",
    respond: () => finchError(429, "rate_limit_error", { "retry-after": "120" }),
    code: "finch_rate_limited",
    retryDelays: [],
    retryAfter: "120",
  },
  {
    name: "200 with malformed JSON",
    respond: () => new Response(`{"${UPSTREAM_MARKER}": [1, 2,`, { headers: { "content-type": "application/json" } }),
    code: "finch_bad_response",
    retryDelays: [],
  },
  {
    name: "200 with the wrong shape",
    respond: () => Response.json(WRONG_SHAPE),
    code: "finch_bad_response",
    retryDelays: [],
  },
  {
    name: "200 with an empty body",
    respond: () => new Response(null, { status: 200 }),
    code: "finch_bad_response",
    retryDelays: [],
  },
  {
    name: "200 with a body over 256 KiB, declared",
    respond: () =>
      new Response(JSON.stringify({ padding: "x".repeat(MAX_FINCH_BODY) }), {
        headers: { "content-type": "application/json" },
      }),
    code: "finch_bad_response",
    retryDelays: [],
  },
  { name: "200 with an endless body, no length", respond: endlessBody, code: "finch_bad_response", retryDelays: [] },
];

/**
 * Records the delays the Worker asks setTimeout for and runs the callbacks at once: the
 * backoff is asserted as a value, and the suite does not sleep through it.
 */
export function recordDelays(): number[] {
  const real = globalThis.setTimeout;
  const delays: number[] = [];
  vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return real(fn, 0);
  }) as typeof setTimeout);
  return delays;
}

/** One Finch call made by a Worker operation, and how to make it. */
export interface FaultedOp {
  /** The Finch route the fault is injected on, e.g. "POST /connect/sessions". */
  route: string;
  /** Whether callFinch may repeat it (never for the code exchange). */
  idempotent: boolean;
  /** Sets up what the call needs (a flow, a stored connection) and returns the faulted request. */
  prepare(): Promise<{ send: () => Promise<Response>; secrets?: string[] }>;
}

/** Injects `fault` on `op` and checks everything a caller and an operator may rely on. */
export async function expectFaultHandled(op: FaultedOp, fault: Fault): Promise<Response> {
  const { send, secrets = [] } = await op.prepare();
  const before = await kvEntries();
  expect(before.length, "a storage snapshot with nothing in it would prove nothing").toBeGreaterThan(0);
  const sentBefore = finch().sent.length;
  finch().override(op.route, fault.respond);
  const delays = recordDelays();

  const res = await send();
  const text = await res.clone().text();
  expect(res.status, text).toBe(ERRORS[fault.code].status);
  expect(JSON.parse(text).error.code).toBe(fault.code);
  expect(res.headers.get("retry-after")).toBe(fault.retryAfter ?? null);
  expect(text).not.toContain(UPSTREAM_MARKER);

  const expectedDelays = op.idempotent ? fault.retryDelays : [];
  const attempts = finch().sent.slice(sentBefore);
  expect(attempts.map((r) => `${r.method} ${r.path}`)).toEqual(
    Array.from({ length: expectedDelays.length + 1 }, () => op.route),
  );
  expect(delays).toEqual(expectedDelays);

  expect(await kvEntries()).toEqual(before);
  await expectNoSecrets(res, secrets);
  return res;
}

/** Every KV put/delete the Worker makes from now on (the calls still go through). */
export function watchKvWrites(): string[] {
  const writes: string[] = [];
  const put = env.CONNECTIONS.put.bind(env.CONNECTIONS);
  const del = env.CONNECTIONS.delete.bind(env.CONNECTIONS);
  vi.spyOn(env.CONNECTIONS, "put").mockImplementation(((key: string, ...rest: unknown[]) => {
    writes.push(`put ${key}`);
    return (put as (...a: unknown[]) => Promise<void>)(key, ...rest);
  }) as KVNamespace["put"]);
  vi.spyOn(env.CONNECTIONS, "delete").mockImplementation((key: string) => {
    writes.push(`delete ${key}`);
    return del(key);
  });
  return writes;
}

type KvMethod = "get" | "getWithMetadata" | "put" | "delete" | "list";

/**
 * Makes the Worker's KV `method` reject, as KV does when it is unavailable, for the keys
 * `when` picks (every key by default); other calls go through. Restore with mockRestore().
 */
export function failKv(method: KvMethod, when: (key: string) => boolean = () => true) {
  const ns = env.CONNECTIONS as unknown as Record<KvMethod, (...args: unknown[]) => Promise<unknown>>;
  const original = ns[method].bind(ns);
  return vi
    .spyOn(ns, method)
    .mockImplementation((key: unknown, ...rest: unknown[]) =>
      when(typeof key === "string" ? key : JSON.stringify(key ?? {}))
        ? Promise.reject(new Error(`KV ${method.toUpperCase()} failed: 503 Service Unavailable`))
        : original(key, ...rest),
    );
}

/**
 * Makes the Worker's KV `method` land (the write happens) and still report failure, for the keys
 * `when` picks; or, with `hang`, land and never answer (the caller's own timeout decides).
 */
export function landKvThenFail(
  method: "put" | "delete",
  when: (key: string) => boolean = () => true,
  opts: { hang?: boolean } = {},
) {
  const ns = env.CONNECTIONS as unknown as Record<"put" | "delete", (...args: unknown[]) => Promise<unknown>>;
  const original = ns[method].bind(ns);
  return vi.spyOn(ns, method).mockImplementation(async (key: unknown, ...rest: unknown[]) => {
    const result = await original(key, ...rest);
    if (typeof key !== "string" || !when(key)) return result;
    if (opts.hang) return new Promise(() => {});
    throw new Error(`KV ${method.toUpperCase()} failed: 500 after the write was applied`);
  });
}
