import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BudgetRequest, LEASE_DIVISOR, leaseCap, SlidingWindow } from "../src/domain/rate-budget";
import { LEASE_HOLD_MS, LEASE_MAX, LeaseBook } from "../src/domain/rate-lease";
import { propertyTimeout, runProperty } from "./support/property";

/**
 * Issue 13: leases of the rate budget. An isolate that calls a product often holds a few slots
 * (one object request per lease, not per call); these tests show a lease never lets more calls
 * reach Finch in any window than the limit, wherever the calls come from and however the
 * requests to the object and to Finch are delayed.
 */
const WINDOW = 60_000;
const MARGIN = 1_000;
const req = (limit: number, want: number, connectionId = "a"): BudgetRequest => ({
  connectionId,
  limit,
  windowMs: WINDOW + MARGIN,
  want,
  holdMs: LEASE_HOLD_MS,
});

describe("leases in the sliding window (controllable clock)", () => {
  it("grants at most a 64th of the limit, and never more than is left", () => {
    const w = new SlidingWindow();
    expect(w.acquire(0, req(640, 32))).toEqual({ ok: true, granted: 10 });
    expect(w.acquire(1, req(640, 1000))).toEqual({ ok: true, granted: 10 });
    const small = new SlidingWindow();
    for (let i = 0; i < 3; i++) expect(small.acquire(i, req(3 * LEASE_DIVISOR, 5)).ok).toBe(true);
    expect(small.acquire(3, req(3 * LEASE_DIVISOR, 5))).toEqual({ ok: true, granted: 3 });
  });

  it("at Finch's default limits nobody holds a slot: every grant is one", () => {
    for (const limit of [12, 20, 63]) expect(leaseCap(limit)).toBe(1);
    const w = new SlidingWindow();
    expect(w.acquire(0, req(20, LEASE_MAX))).toEqual({ ok: true, granted: 1 });
  });

  it("a lease's slots count until one window after its hold ends; a single call's from its own time", () => {
    const w = new SlidingWindow();
    const limit = 2 * LEASE_DIVISOR; // leases of at most 2
    for (let i = 0; i < LEASE_DIVISOR; i++) expect(w.acquire(0, req(limit, 2))).toEqual({ ok: true, granted: 2 });
    const freesAt = LEASE_HOLD_MS + WINDOW + MARGIN;
    expect(w.acquire(freesAt - 1, req(limit, 1))).toEqual({ ok: false, retryAfterMs: 1, reason: "spent" });
    expect(w.acquire(freesAt, req(limit, 1))).toEqual({ ok: true, granted: 1 });
  });

  it("keeps slots in the order they free, so Retry-After names the first to free", () => {
    const w = new SlidingWindow();
    const limit = 3 * LEASE_DIVISOR;
    for (let i = 0; i < LEASE_DIVISOR - 1; i++) expect(w.acquire(0, req(limit, 3)).ok).toBe(true); // free at 62000
    // Asked later, but counted from their own time: these free first, at 61010 and 61020.
    expect(w.acquire(10, req(limit, 1))).toEqual({ ok: true, granted: 1 });
    expect(w.acquire(10, req(limit, 1))).toEqual({ ok: true, granted: 1 });
    expect(w.acquire(20, req(limit, 1))).toEqual({ ok: true, granted: 1 });
    expect(w.acquire(30, req(limit, 1))).toEqual({ ok: false, retryAfterMs: 60_980, reason: "spent" });
    expect(w.acquire(61_010, req(limit, 3))).toEqual({ ok: true, granted: 2 });
  });

  it("under fairness a lease is cut to the connection's share while others wait", () => {
    const w = new SlidingWindow();
    const limit = 4 * LEASE_DIVISOR; // leases of at most 4; a share of 1/32 is 8 slots
    const fair = (t: number, id: string, want: number) => w.acquire(t, { ...req(limit, want, id), fairShare: 1 / 32 });
    expect(fair(0, "a", 4)).toEqual({ ok: true, granted: 4 }); // counted until 62000
    expect(fair(0, "a", 1).ok).toBe(true);
    expect(fair(0, "a", 1).ok).toBe(true); // a holds 6
    for (let i = 0; i < limit - 6; i++) expect(fair(0, "c", 1).ok).toBe(true);
    expect(fair(500, "b", 1)).toMatchObject({ ok: false, reason: "spent" }); // b waits from now on
    // At 61200 the single calls have freed; a still holds its lease of 4, and may add 4 more only.
    expect(fair(61_200, "a", 32)).toEqual({ ok: true, granted: 4 });
    expect(fair(61_200, "a", 1)).toMatchObject({ ok: false, reason: "fair" });
    expect(fair(61_200, "b", 1)).toEqual({ ok: true, granted: 1 });
  });
});

describe("the lease book (one per isolate)", () => {
  it("uses held slots only before the hold ends, counted from when the object was asked", () => {
    const book = new LeaseBook();
    expect(book.take("k", 0)).toBe(false);
    book.add("k", 100, 3); // the caller used one; two held until 1100
    expect(book.take("k", 1099)).toBe(true);
    expect(book.take("k", 1100)).toBe(false);
    expect(book.take("k", 500)).toBe(true);
    expect(book.take("k", 600)).toBe(false);
  });

  it("asks for more while the demand outruns the lease, and for what was used when it lapsed", () => {
    const book = new LeaseBook();
    expect(book.want("k", 0)).toBe(1);
    book.add("k", 0, 4);
    for (let i = 0; i < 3; i++) expect(book.take("k", 10)).toBe(true);
    expect(book.want("k", 20)).toBe(8);
    book.add("k", 20, 8);
    expect(book.take("k", 30)).toBe(true);
    expect(book.want("k", LEASE_HOLD_MS + 1)).toBe(2); // 8 granted, 7 left unused: used 1 + the caller's
    for (let i = 0; i < 10; i++) book.add("x", i * 10, LEASE_MAX);
    expect(book.want("x", 100)).toBe(LEASE_MAX);
  });

  it("a Finch 429 drops what the isolate holds for the product", () => {
    const book = new LeaseBook();
    book.add("app\ncompany\n", 0, 4);
    book.add("app\ncompany\nconn-1", 0, 4);
    book.add("app\ndirectory\n", 0, 4);
    book.drop("app\ncompany\n");
    expect(book.take("app\ncompany\n", 1)).toBe(false);
    expect(book.take("app\ncompany\nconn-1", 1)).toBe(false);
    expect(book.take("app\ndirectory\n", 1)).toBe(true);
  });

  it("a busy isolate asks the object about once per LEASE_MAX calls", () => {
    const book = new LeaseBook();
    const w = new SlidingWindow();
    let asked = 0;
    for (let t = 0; t < 2000; t++) {
      if (book.take("k", t)) continue;
      asked++;
      const d = w.acquire(t, req(1_000_000, book.want("k", t)));
      if (d.ok) book.add("k", t, d.granted);
    }
    expect(asked).toBeLessThanOrEqual(2000 / LEASE_MAX + 8);
  });
});

interface Call {
  at: number;
  isolate: number;
  connection: number;
  toObject: number;
  /** The answer's way back and the call's way on to Finch, in thousandths of half the margin. */
  fromObject: number;
  toFinch: number;
}

type Event =
  | { t: number; kind: "call"; call: Call }
  | { t: number; kind: "object"; call: Call; sentAt: number; want: number }
  | { t: number; kind: "answer"; call: Call; sentAt: number; granted: number };

/**
 * A discrete-event run: isolates with their own lease books, one budget object, and delays on
 * every hop (to the object, back, and on to Finch: the last two together within the margin the
 * budget adds to Finch's window). Returns the instants at which Finch received calls.
 */
function simulate(calls: Call[], limit: number, fairShare: number | undefined, margin: number): number[] {
  const late = (perMille: number) => Math.floor((perMille * margin) / 2000);
  const books = new Map<number, LeaseBook>();
  const window = new SlidingWindow();
  // Pending events, latest first (ties: first pushed goes first), so the next is at the end.
  const events: Event[] = [];
  const push = (e: Event) => {
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((events[mid] as Event).t > e.t) lo = mid + 1;
      else hi = mid;
    }
    events.splice(lo, 0, e);
  };
  for (const call of calls) push({ t: call.at, kind: "call", call });
  const arrivals: number[] = [];
  const key = (c: Call) => (fairShare === undefined ? "p" : `p\n${c.connection}`);
  while (events.length > 0) {
    const e = events.pop() as Event;
    const book = books.get(e.call.isolate) ?? new LeaseBook();
    books.set(e.call.isolate, book);
    if (e.kind === "call") {
      if (book.take(key(e.call), e.t)) arrivals.push(e.t + late(e.call.toFinch));
      else
        push({
          t: e.t + e.call.toObject,
          kind: "object",
          call: e.call,
          sentAt: e.t,
          want: book.want(key(e.call), e.t),
        });
    } else if (e.kind === "object") {
      const d = window.acquire(e.t, {
        connectionId: String(e.call.connection),
        limit,
        windowMs: WINDOW + margin,
        fairShare,
        want: e.want,
        holdMs: LEASE_HOLD_MS,
      });
      if (d.ok)
        push({ t: e.t + late(e.call.fromObject), kind: "answer", call: e.call, sentAt: e.sentAt, granted: d.granted });
    } else {
      book.add(key(e.call), e.sentAt, e.granted);
      arrivals.push(e.t + late(e.call.toFinch));
    }
  }
  return arrivals.sort((a, b) => a - b);
}

/** The most arrivals in any Finch window [t, t + WINDOW). */
function busiestWindow(arrivals: number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while ((arrivals[j] as number) <= (arrivals[i] as number) - WINDOW) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe("simulation: leases keep the whole app inside Finch's window", () => {
  it(
    "random isolates, connections, bursts and delays: no Finch window ever sees more than the limit",
    async () => {
      const call = fc.record({
        at: fc.integer({ min: 0, max: 90_000 }),
        isolate: fc.integer({ min: 0, max: 4 }),
        connection: fc.integer({ min: 0, max: 5 }),
        toObject: fc.integer({ min: 0, max: 400 }),
        fromObject: fc.integer({ min: 0, max: 1000 }),
        toFinch: fc.integer({ min: 0, max: 1000 }),
      });
      // Bursts and steady streams: many calls close together, as an app refreshing every employer
      // makes; they keep the budget spent, so slots are taken again the moment they free.
      const burst = fc
        .tuple(call, fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 40 }))
        .map(([c, n, spread]) =>
          Array.from({ length: n }, (_, i) => ({ ...c, at: c.at + i * spread, isolate: (c.isolate + i) % 5 })),
        );
      // A stream that keeps the budget spent for over two windows, at 1 to 4 times the rate the
      // limit allows: slots are taken again the moment they free, where an error would show.
      const stream = (limit: number) =>
        fc.tuple(call, fc.integer({ min: 1, max: 4 }), fc.boolean()).map(([c, factor, spread]) => {
          const every = Math.max(1, Math.floor((WINDOW + 2 * MARGIN) / (limit * factor)));
          const n = Math.min(4000, Math.ceil((2.2 * WINDOW) / every));
          return Array.from({ length: n }, (_, i) => ({
            ...c,
            at: c.at + i * every,
            isolate: spread ? i % 5 : c.isolate,
          }));
        });
      const limits = fc.oneof(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: LEASE_DIVISOR, max: 12 * LEASE_DIVISOR }),
      );
      const scenario = limits.chain((limit) =>
        fc.record({
          limit: fc.constant(limit),
          groups: fc.array(
            fc.oneof(
              call.map((c) => [c]),
              burst,
              stream(limit),
            ),
            { minLength: 1, maxLength: 6 },
          ),
          fairShare: fc.option(fc.constantFrom(0.25, 0.5), { nil: undefined }),
          margin: fc.constantFrom(10, 100, MARGIN),
        }),
      );
      await runProperty(
        "rate-lease-window",
        fc.asyncProperty(scenario, async ({ limit, groups, fairShare, margin }) => {
          const arrivals = simulate(groups.flat(), limit, fairShare, margin);
          expect(busiestWindow(arrivals)).toBeLessThanOrEqual(limit);
        }),
      );
    },
    propertyTimeout(10),
  );
});
