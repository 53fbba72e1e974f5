import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { clearKv, seedConnection } from "../support/fixtures";
import { API_KEY, OLD_API_KEY } from "../support/http";
import {
  anyText,
  caseWatch,
  encodeLoose,
  errorCode,
  expectRefusedSafely,
  propertyTimeout,
  runProperty,
} from "../support/property";
import { workerWith } from "../support/worker";

/**
 * Hostile calls to /api: random paths (known and unknown segments, ids of every shape, dot
 * and encoded segments), methods, query strings, bodies (junk, any JSON, over the 16 KiB
 * limit) and Authorization headers (wrong, near-miss, other schemes). Invariants: no 5xx,
 * no KV write, no Finch call unless an authenticated introspect of the stored connection
 * succeeded, no secret or token in the answer except the token endpoint's own 200, and a
 * request without a valid key is 401 whatever its path.
 */
beforeEach(clearKv);
const worker = workerWith({});

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"];

it(
  "hostile API requests",
  async () => {
    const { connectionId, accessToken } = await seedConnection();
    const segment = fc.oneof(
      fc.constantFrom("connections", "token", "introspect", "admin", "reencrypt", "finch", "", ".", ".."),
      fc.constantFrom(connectionId, `${connectionId}x`, "%2e%2e", "..%2F", "%00", "a".repeat(129), "-x", "_"),
      anyText(30).map(encodeLoose),
    );
    const auth = fc.oneof(
      { arbitrary: fc.constantFrom(`Bearer ${API_KEY}`, `Bearer ${OLD_API_KEY}`), weight: 6 },
      {
        arbitrary: fc.constantFrom(
          "",
          "Bearer",
          `Bearer  ${API_KEY}`,
          `bearer ${API_KEY}`,
          `Bearer ${API_KEY.slice(0, -1)}`,
          `Bearer ${API_KEY}x`,
          `Basic ${btoa(`${API_KEY}:`)}`,
          `Bearer ${API_KEY},${OLD_API_KEY}`,
        ),
        weight: 2,
      },
      { arbitrary: anyText(60).map((t) => `Bearer ${t.replace(/[^\x21-\x7e]/g, "")}`), weight: 1 },
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.constant(""),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      anyText(200),
      fc.integer({ min: 16 * 1024, max: 20 * 1024 }).map((n) => `{"x":"${"y".repeat(n)}"}`),
    );
    const query = fc.array(fc.tuple(fc.constantFrom("customer_id", "status", "limit", "cursor", "x"), anyText(40)), {
      maxLength: 3,
    });

    const watch = caseWatch();
    await runProperty(
      "api",
      fc.asyncProperty(
        fc.oneof(
          fc.array(segment, { minLength: 1, maxLength: 5 }),
          // Real routes with hostile parts, so bodies and ids reach the handlers.
          fc
            .tuple(segment, fc.constantFrom("token", "introspect", ""))
            .map(([id, action]) => ["connections", id, ...(action ? [action] : [])]),
          fc.constantFrom(["connections", connectionId, "token"], ["connections", connectionId, "introspect"]),
        ),
        fc.constantFrom(...METHODS),
        auth,
        body,
        query,
        async (segments, method, authorization, payload, pairs) => {
          // Disconnecting the stored connection is a real operation, not hostile input.
          if (method === "DELETE") fc.pre(!segments.includes(connectionId));
          const search = pairs.map(([k, v]) => `${k}=${encodeLoose(v)}`).join("&");
          const path = `/api/${segments.join("/")}${search ? `?${search}` : ""}`;
          watch.next();
          const headers: Record<string, string> = authorization ? { authorization } : {};
          const withBody = payload !== undefined && method !== "GET" && method !== "HEAD";
          const res = await worker(path, { method, headers, ...(withBody ? { body: payload } : {}) });

          const ok = res.status < 300;
          const url = new URL(path, "https://connect.example.com");
          const tokenRoute = url.pathname === `/api/connections/${connectionId}/token` && method === "POST";
          const introspect = url.pathname === `/api/connections/${connectionId}/introspect` && method === "POST";
          const proxy = url.pathname.startsWith(`/api/connections/${connectionId}/finch/`);
          await expectRefusedSafely(res, watch, {
            upstream: ok && (introspect || proxy),
            writes: ok && introspect,
            allowedSecrets: ok && tokenRoute ? [accessToken] : [],
          });
          // The scheme is case-insensitive (RFC 9110) and Hono allows extra spaces before the key.
          const presented = /^bearer +(.*)$/i.exec(authorization)?.[1];
          const keyed = presented === API_KEY || presented === OLD_API_KEY;
          // Dot segments can take the URL out of /api (the runtime normalizes them first).
          const underApi = url.pathname === "/api" || url.pathname.startsWith("/api/");
          if (!keyed && underApi) {
            expect(res.status).toBe(401);
            if (method !== "HEAD") expect(await errorCode(res)).toBe("unauthorized");
          }
        },
      ),
    );
  },
  propertyTimeout(),
);
