import fc from "fast-check";
import { expect, inject } from "vitest";
import { expectNoSecrets } from "./assert";
import { watchKvWrites } from "./faults";
import { finch } from "./finch";
import { TEST_VARS } from "./secrets";

/**
 * Property-based hostile-input tests. Each property runs DEFAULT_RUNS cases unless FC_RUNS
 * says otherwise; FC_SEED replays a failing run (fast-check prints the seed and path of a
 * counterexample, and `runProperty` logs the seed of every run up front).
 *
 *   FC_RUNS=20000 npx vitest run test/property/proxy.test.ts
 *   FC_SEED=123456 npx vitest run test/property/callback.test.ts
 */
declare module "vitest" {
  export interface ProvidedContext {
    fcRuns: number;
    fcSeed: number;
  }
}

export const DEFAULT_RUNS = 1000;

/** Cases per property: FC_RUNS, else the property's own default (DEFAULT_RUNS unless it names one). */
export const propertyRuns = (fallback = DEFAULT_RUNS): number => inject("fcRuns") || fallback;

/** A test timeout that grows with FC_RUNS (a case costs a few ms; this leaves ample room). */
export const propertyTimeout = (perCaseMs = 20, fallbackRuns = DEFAULT_RUNS) =>
  30_000 + propertyRuns(fallbackRuns) * perCaseMs;

/**
 * Runs `property` with the configured number of cases; logs seed, runs and time. A property
 * whose cases are whole simulations may name a smaller default (FC_RUNS still overrides it).
 */
export async function runProperty<Ts>(
  name: string,
  property: fc.IAsyncPropertyWithHooks<Ts>,
  fallbackRuns = DEFAULT_RUNS,
): Promise<void> {
  const numRuns = propertyRuns(fallbackRuns);
  const seed = inject("fcSeed") || (Math.random() * 2 ** 31) | 0;
  const started = performance.now();
  console.log(JSON.stringify({ property: name, runs: numRuns, seed }));
  await fc.assert(property, { numRuns, seed, endOnFailure: true });
  const ms = Math.round(performance.now() - started);
  console.log(JSON.stringify({ property: name, runs: numRuns, seed, ms, ms_per_case: +(ms / numRuns).toFixed(2) }));
}

/**
 * Watches one property's cases: KV writes and upstream calls per case, reset by `next()`.
 * Install once per test (spies are restored after each test by setup.ts).
 */
export function caseWatch() {
  const writes = watchKvWrites();
  let sentMark = finch().sent.length;
  return {
    next() {
      writes.length = 0;
      sentMark = finch().sent.length;
    },
    writes: () => [...writes],
    upstream: () => finch().sent.slice(sentMark),
  };
}

/**
 * The invariants every hostile request must keep: no 5xx, no KV write, no secret in the
 * answer, and no request anywhere but the configured Finch base URL. `upstream: false` also
 * forbids any upstream call at all; `writes: true` leaves KV writes to the caller to judge.
 */
export async function expectRefusedSafely(
  res: Response,
  watch: ReturnType<typeof caseWatch>,
  opts: { upstream: boolean; writes?: boolean; extraSecrets?: readonly string[]; allowedSecrets?: readonly string[] },
): Promise<void> {
  const body = await res.clone().text();
  if (res.status >= 500) expect.fail(`answered ${res.status}: ${body.slice(0, 300)}`);
  if (!opts.writes) expect(watch.writes()).toEqual([]);
  if (!opts.upstream) expect(watch.upstream().map((r) => `${r.method} ${r.url.href}`)).toEqual([]);
  for (const sent of watch.upstream()) expect(sent.url.href.startsWith(`${TEST_VARS.FINCH_API_BASE_URL}/`)).toBe(true);
  expect(finch().unhandled).toEqual([]);
  await expectNoSecrets(res, opts.extraSecrets, opts.allowedSecrets);
}

/** The stable error code of a JSON error answer, or undefined for anything else. */
export async function errorCode(res: Response): Promise<string | undefined> {
  try {
    return ((await res.clone().json()) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Unicode of every kind (incl. lone surrogates), printable junk, and very long values. */
export const anyText = (maxLength = 64) =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ maxLength }),
    fc.constantFrom("", " ", "%", "%ZZ", "%FF%FE", "%00", "%C0%AE", "\u0000", "\u202e", "&", "=", "+", "#", "\\", ".."),
    fc
      .tuple(fc.string({ unit: "grapheme", minLength: 1, maxLength: 3 }), fc.integer({ min: 1000, max: 10240 }))
      .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)),
  );

/** Percent-encodes when the value is well-formed text, else keeps it raw (as a hostile client might send it). */
export function encodeLoose(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value;
  }
}
