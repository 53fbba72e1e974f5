import { vi } from "vitest";
import { createMockFinch, type MockFinch } from "../../mock-finch/src/mock";
import { markSecret } from "./logs";
import { CONNECT_ORIGIN, TEST_SECRETS, TEST_VARS } from "./secrets";

/**
 * Outbound HTTP for tests. Every fetch the Worker makes lands here: requests to the
 * configured Finch base URL are recorded and answered by the same mock Finch that
 * `npm start` runs (or by a per-test override); anything else is recorded as unhandled
 * and fails the test in setup.ts's afterEach.
 */
export interface SentRequest {
  method: string;
  url: URL;
  path: string;
  headers: Headers;
  body: string;
  json(): any;
}

export type Override = (req: Request, call: number) => Response | Promise<Response>;

export interface FinchHarness {
  mock: MockFinch;
  sent: SentRequest[];
  /** Requests sent to a path ("POST /auth/token"). */
  calls(route: string): SentRequest[];
  /** Replace the mock's answer for one route; `call` counts from 1. */
  override(route: string, handler: Override): void;
  unhandled: string[];
  /**
   * Answers requests under `prefix` (an origin, or an origin and path: "https://app.example.com/hooks")
   * with `handler`, e.g. an app's webhook receiver. `call` counts from 1 per prefix. A handler that
   * throws is a network error; anything not registered still fails the test.
   */
  receive(prefix: string, handler: Override): void;
  /** Requests answered by a `receive` handler, in order. */
  received: SentRequest[];
}

function recorded(request: Request, url: URL, body: string): SentRequest {
  return {
    method: request.method,
    url,
    path: url.pathname,
    headers: new Headers(request.headers),
    body,
    json: () => JSON.parse(body),
  };
}

let current: FinchHarness | undefined;

export function finch(): FinchHarness {
  if (!current) throw new Error("installFinch() was not called (setup.ts does it before each test)");
  return current;
}

export function installFinch(): FinchHarness {
  const mock = createMockFinch({
    clientId: TEST_SECRETS.FINCH_CLIENT_ID,
    clientSecret: TEST_SECRETS.FINCH_CLIENT_SECRET,
    connectOrigin: CONNECT_ORIGIN,
  });
  markMockSecrets(mock);
  const overrides = new Map<string, Override>();
  const counts = new Map<string, number>();
  const receivers = new Map<string, Override>();
  const harness: FinchHarness = {
    mock,
    sent: [],
    unhandled: [],
    received: [],
    receive: (prefix, handler) => void receivers.set(prefix, handler),
    calls: (route) => harness.sent.filter((r) => `${r.method} ${r.path}` === route),
    override: (route, handler) => void overrides.set(route, handler),
  };
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const receiver = [...receivers].find(([prefix]) => request.url.startsWith(prefix));
    if (receiver) {
      const [prefix, handler] = receiver;
      harness.received.push(recorded(request, url, await request.clone().text()));
      const n = (counts.get(prefix) ?? 0) + 1;
      counts.set(prefix, n);
      if (request.signal?.aborted) throw request.signal.reason;
      return handler(request, n);
    }
    if (!request.url.startsWith(`${TEST_VARS.FINCH_API_BASE_URL}/`)) {
      harness.unhandled.push(`${request.method} ${url.origin}${url.pathname}`);
      throw new TypeError(`unhandled outbound request to ${url.origin}`);
    }
    harness.sent.push(recorded(request, url, await request.clone().text()));
    const route = `${request.method} ${url.pathname}`;
    const n = (counts.get(route) ?? 0) + 1;
    counts.set(route, n);
    if (request.signal?.aborted) throw request.signal.reason;
    const handler = overrides.get(route);
    return handler ? handler(request, n) : mock.fetch(request);
  });
  current = harness;
  return harness;
}

/** Hands every code and token the mock gives out to the log guard (logs.ts), at the moment it is minted. */
function markMockSecrets(mock: MockFinch): void {
  const { approve, seedConnection, fetch } = mock;
  mock.approve = (sessionId, opts) => {
    const code = approve(sessionId, opts);
    markSecret("an authorization code", code);
    return code;
  };
  mock.seedConnection = (input) => {
    const seeded = seedConnection(input);
    markSecret("an access token", seeded.accessToken);
    return seeded;
  };
  mock.fetch = async (request) => {
    const response = await fetch(request);
    const path = new URL(request.url).pathname;
    const location = response.headers.get("location");
    if (location && URL.canParse(location))
      markSecret("an authorization code", new URL(location).searchParams.get("code"));
    // Mock bodies are small and in memory: reading a clone here cannot stall the caller.
    if ((path === "/auth/token" || path === "/sandbox/connections") && response.ok) {
      const body: unknown = await response
        .clone()
        .json()
        .catch(() => null);
      if (body && typeof body === "object" && "access_token" in body && typeof body.access_token === "string") {
        markSecret("an access token", body.access_token);
      }
    }
    if (path === "/authorize/approve" && response.ok) {
      markSecret("an authorization code", /id="code">([^<]+)</.exec(await response.clone().text())?.[1]);
    }
    return response;
  };
}

/** A request straight to the mock Finch (no Worker), as an app with these credentials would send it. */
export async function callMock(
  method: string,
  path: string,
  opts: { auth?: "basic" | { bearer: string }; body?: unknown } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers = new Headers({ "content-type": "application/json" });
  if (opts.auth === "basic") {
    headers.set(
      "authorization",
      `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`,
    );
  } else if (opts.auth) headers.set("authorization", `Bearer ${opts.auth.bearer}`);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const res = await finch().mock.fetch(
    new Request(`${TEST_VARS.FINCH_API_BASE_URL}${path}`, { method, headers, body }),
  );
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}
