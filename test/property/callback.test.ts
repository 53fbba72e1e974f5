import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import { startFlow } from "../support/flow";
import {
  anyText,
  caseWatch,
  encodeLoose,
  expectRefusedSafely,
  propertyRuns,
  propertyTimeout,
  runProperty,
} from "../support/property";
import { workerWith } from "../support/worker";

/**
 * Hostile /callback query strings: any unicode, raw and broken percent-escapes, repeated and
 * missing parameters, 10 KB values, with the browser's real pending cookie or none. Whatever
 * comes in: no 5xx, no KV write, no secret out, and Finch is called only when the query
 * carried exactly the flow's own state and one code (then with exactly that code).
 */
beforeEach(clearKv);
// The app's own fetch, called directly: the pool's exports.default.fetch slows down with
// every call in a test (5 ms to 200+ ms per request after 500 calls), which no property can afford.
const worker = workerWith({});

type Pair = [key: string, value: string, how: "encoded" | "raw"];
const KEYS = ["code", "state", "error", "error_description", "session", "redirect_uri"];
const how = fc.constantFrom<"encoded" | "raw">("encoded", "raw");

/** Anything: known and unknown keys, repeats, the real state now and then. */
const anyQuery = (realState: string) =>
  fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...KEYS), anyText(16)), fc.oneof(anyText(), fc.constant(realState)), how),
    {
      maxLength: 6,
    },
  );

/** The real state and a code-shaped value, among junk: the exchange path must be reached. */
const wellFormed = (realState: string) =>
  fc
    .tuple(
      fc.stringMatching(/^[A-Za-z0-9._~-]{1,64}$/),
      fc.array(fc.tuple(fc.constantFrom("error_description", "session", "x"), anyText(), how), { maxLength: 3 }),
    )
    .chain(([code, junk]) =>
      fc.shuffledSubarray<Pair>([["state", realState, "encoded"], ["code", code, "encoded"], ...junk], {
        minLength: 2 + junk.length,
      }),
    );

const render = (pairs: Pair[]) =>
  pairs.map(([k, v, h]) => (h === "raw" ? `${k}=${v}` : `${encodeLoose(k)}=${encodeLoose(v)}`)).join("&");

it(
  "hostile callback query strings",
  async () => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    const flow = await startFlow({}, undefined, worker);
    const watch = caseWatch();
    let exchanges = 0;

    await runProperty(
      "callback query",
      fc.asyncProperty(
        fc.oneof(anyQuery(flow.state), wellFormed(flow.state)),
        fc.boolean(),
        async (pairs, withCookie) => {
          watch.next();
          const path = `/callback?${render(pairs)}`;
          const res = await worker(path, {
            headers: { accept: "application/json", ...(withCookie ? { cookie: flow.jar.header() } : {}) },
          });
          await expectRefusedSafely(res, watch, { upstream: true, extraSecrets: [flow.ticket] });
          expect(res.status).toBeGreaterThanOrEqual(400);
          const upstream = watch.upstream();
          if (upstream.length === 0) return;
          // Reached Finch: only with this browser's cookie, its exact state, one code, sent verbatim.
          exchanges++;
          const params = new URL(path, "https://connect.example.com").searchParams;
          expect(withCookie).toBe(true);
          expect(params.getAll("state")).toEqual([flow.state]);
          expect(upstream.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /auth/token"]);
          expect(params.getAll("code")).toEqual([upstream[0]!.json().code]);
        },
      ),
    );
    if (propertyRuns() >= 100) expect(exchanges, "the exchange path was never reached").toBeGreaterThan(0);
    expect(finch().calls("POST /connect/sessions")).toHaveLength(1);
  },
  propertyTimeout(),
);
