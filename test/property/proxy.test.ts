import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { getConfig } from "../../src/config/index";
import { AppError } from "../../src/errors";
import { newTrace } from "../../src/lib/trace";
import { proxyToFinch } from "../../src/proxy/proxy";
import { durableWriters } from "../../src/writer/client";
import { clearKv, seedConnection, testStore } from "../support/fixtures";
import { API_KEY } from "../support/http";
import { anyText, caseWatch, errorCode, expectRefusedSafely, propertyTimeout, runProperty } from "../support/property";
import { TEST_VARS, WORKER_ORIGIN } from "../support/secrets";
import { workerWith } from "../support/worker";

/**
 * Hostile proxy paths: dot segments plain and encoded, encoded slashes and backslashes, raw
 * backslashes, `//evil.com`, absolute URLs, `@evil.com`, ports, control characters, unicode,
 * reserved endpoints, odd methods. Twice: through the Worker (after the runtime's own URL
 * parsing), and straight into the proxy with the raw path, as an RPC caller's plain object
 * delivers it, where nothing has normalized anything. Whatever the path, every upstream
 * request goes to the configured Finch origin, below its path, with no dot or empty segment;
 * a refused path makes no upstream call and no write.
 */
beforeEach(clearKv);
const worker = workerWith({});
const BASE = new URL(TEST_VARS.FINCH_API_BASE_URL);

const EVIL = [
  "..",
  ".",
  "%2e%2e",
  "%2E%2e",
  ".%2e",
  "%2e",
  "..%2F",
  "%2F",
  "%2f..%2f",
  "%5C",
  "\\",
  "..\\..",
  "",
  "evil.com",
  "@evil.com",
  "user@evil.com",
  "evil.com:443",
  "http:",
  "http://evil.com/",
  "https:%2F%2Fevil.com",
  "//evil.com",
  "%2F%2Fevil.com",
  "%00",
  "%0d%0aHost: evil.com",
  "%252e%252e",
  "%E0%A4%A",
  "disconnect",
  "DISCONNECT",
  "auth",
  "connect",
  "?",
  "#",
  ";",
];
const NORMAL = ["employer", "company", "directory", "introspect", "individual", "v1"];
const segment = fc.oneof(fc.constantFrom(...EVIL), fc.constantFrom(...NORMAL), anyText(12));
const rawPath = fc
  .tuple(fc.array(segment, { minLength: 0, maxLength: 5 }), fc.constantFrom("/", "", "//", "\\"))
  .map(([parts, lead]) => `${lead}${parts.join("/")}`);
const rawSearch = fc.oneof(
  fc.constant(""),
  fc.constantFrom("?next=http://evil.com/", "?@evil.com", "?x=%2e%2e/..", "?#@evil.com"),
  anyText(40).map((t) => `?${t}`),
);
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];

/** Where any upstream request went: Finch's origin, below its path, no dot or empty segments. */
function expectStaysOnFinch(urls: URL[]) {
  expect(urls.length).toBeLessThanOrEqual(1);
  for (const url of urls) {
    expect(url.origin).toBe(BASE.origin);
    expect(url.username + url.password).toBe("");
    // A trailing slash is fine; an empty segment inside the path is not.
    const segments = url.pathname.replace(/\/$/, "").split("/").slice(1);
    expect(segments.every((s) => s !== "" && s !== "." && s !== ".." && !/%2e%2e|%2f|%5c/i.test(s))).toBe(true);
  }
}

it(
  "hostile proxy paths through the Worker",
  async () => {
    const { connectionId, accessToken } = await seedConnection();
    const prefix = `/api/connections/${connectionId}/finch`;
    const watch = caseWatch();
    await runProperty(
      "proxy paths (HTTP)",
      fc.asyncProperty(rawPath, rawSearch, fc.constantFrom(...METHODS), async (path, search, method) => {
        watch.next();
        let request: Request;
        try {
          request = new Request(new URL(`${prefix}${path}${search}`, WORKER_ORIGIN), { method });
        } catch {
          return fc.pre(false); // a method or URL no client could send
        }
        // URL parsing resolves dot segments (also ".%2e"): such a request no longer reaches the
        // proxy but another API route (e.g. POST .../introspect, which may write): not this property's case.
        if (!new URL(request.url).pathname.startsWith(`${prefix}/`)) return fc.pre(false);
        const res = await worker(request.url, { method, headers: { authorization: `Bearer ${API_KEY}` } });
        await expectRefusedSafely(res, watch, { upstream: true, extraSecrets: [accessToken] });
        const sent = watch.upstream();
        expectStaysOnFinch(sent.map((r) => r.url));
        if (res.status === 400 && method !== "HEAD") {
          expect(await errorCode(res)).toMatch(/^(param_invalid|proxy_path_reserved)$/);
          expect(sent).toEqual([]);
        }
        if (sent.length === 1) {
          // Nothing is rewritten: Finch gets the path the Worker received below /finch.
          const received = new URL(request.url).pathname;
          expect(received.startsWith(`${prefix}/`)).toBe(true);
          expect(sent[0]!.url.pathname).toBe(received.slice(prefix.length));
        }
      }),
    );
  },
  propertyTimeout(),
);

it(
  "hostile raw proxy paths, as an RPC caller passes them",
  async () => {
    const { connectionId, accessToken } = await seedConnection();
    const deps = { finch: getConfig(env).finch(), store: testStore(), writers: durableWriters(env) };
    const watch = caseWatch();
    await runProperty(
      "proxy paths (raw)",
      fc.asyncProperty(rawPath, rawSearch, fc.constantFrom(...METHODS), async (path, search, method) => {
        watch.next();
        const call = { connectionId, method, path, search, headers: new Headers(), body: null };
        let res: Response | undefined;
        try {
          res = await proxyToFinch(deps, call, newTrace("property"));
        } catch (e) {
          if (!(e instanceof AppError)) throw e;
          expect(e.status).toBeLessThan(500);
          expect(["param_invalid", "proxy_path_reserved", "method_not_allowed"]).toContain(e.code);
          expect(watch.upstream()).toEqual([]);
        }
        if (res) await expectRefusedSafely(res, watch, { upstream: true, extraSecrets: [accessToken] });
        expect(watch.writes()).toEqual([]);
        expectStaysOnFinch(watch.upstream().map((r) => r.url));
      }),
    );
  },
  propertyTimeout(),
);

it("an RPC path cannot smuggle a reserved endpoint past the check with ? or #", async () => {
  const { connectionId } = await seedConnection();
  const deps = { finch: getConfig(env).finch(), store: testStore(), writers: durableWriters(env) };
  const watch = caseWatch();
  for (const path of ["/disconnect?", "/disconnect#x", "/disconnect?/x", "/auth/token#", "/connect/sessions?a=1"]) {
    const call = { connectionId, method: "POST", path, search: "", headers: new Headers(), body: null };
    const refused = await proxyToFinch(deps, call, newTrace("t")).then(
      () => undefined,
      (e: unknown) => (e instanceof AppError ? e.code : String(e)),
    );
    expect(refused, path).toMatch(/^(param_invalid|proxy_path_reserved)$/);
  }
  expect(watch.upstream()).toEqual([]);
});
