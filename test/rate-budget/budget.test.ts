import { exports } from "cloudflare:workers";
import Finch from "@tryfinch/finch-api";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { SlidingWindow } from "../../src/rate-budget/window";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import { API_KEY } from "../support/http";
import { WORKER_ORIGIN } from "../support/secrets";
import { budgetApp, ownBudget, workerWith } from "../support/worker";

/**
 * Issue 13: one rate budget for the whole app. Finch limits each application per product in a
 * rolling 60-second window across all its tokens; the proxy (HTTP and RPC) keeps the app under
 * those limits with one Durable Object per product, and answers 429 finch_budget_exhausted with
 * a truthful Retry-After instead of letting Finch answer 429.
 */
beforeEach(clearKv);

const finch429s = () => finch().mock.requests.filter((r) => r.status === 429);
const companyCalls = () => finch().calls("GET /employer/company");

/** The Worker as its own Finch application, with Finch's default limits (or the given ones). */
const app = budgetApp;

async function connections(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push((await seedConnection({ customerId: `c${i}`, customerName: `C ${i}` })).connectionId);
  return ids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the sliding window (controllable clock)", () => {
  const req = (connectionId = "a", limit = 2, fairShare?: number) => ({
    connectionId,
    limit,
    windowMs: 1000,
    fairShare,
  });

  it("lets `limit` calls through per window; a slot frees exactly windowMs after its call", () => {
    const w = new SlidingWindow();
    expect(w.acquire(0, req())).toMatchObject({ ok: true, granted: 1 });
    expect(w.acquire(400, req())).toMatchObject({ ok: true, granted: 1 });
    expect(w.acquire(999, req())).toEqual({ ok: false, retryAfterMs: 1, reason: "spent" });
    expect(w.acquire(1000, req())).toMatchObject({ ok: true, granted: 1 });
    // Slots now at 400 and 1000: the next frees at 1400.
    expect(w.acquire(1001, req())).toEqual({ ok: false, retryAfterMs: 399, reason: "spent" });
    expect(w.acquire(1400, req())).toMatchObject({ ok: true, granted: 1 });
  });

  it("a single slot counts until one window after the end of its hold, when its call may still be sent", () => {
    const w = new SlidingWindow();
    expect(w.acquire(0, { ...req("a", 1), holdMs: 300 })).toMatchObject({ ok: true, granted: 1 });
    expect(w.acquire(1299, req("a", 1))).toEqual({ ok: false, retryAfterMs: 1, reason: "spent" });
    expect(w.acquire(1300, req("a", 1)).ok).toBe(true);
  });

  it("a refusal takes no slot", () => {
    const w = new SlidingWindow();
    w.acquire(0, req("a", 1));
    for (let t = 1; t < 1000; t += 100) expect(w.acquire(t, req("a", 1)).ok).toBe(false);
    expect(w.acquire(1000, req("a", 1)).ok).toBe(true);
  });

  it("a pause (Finch's 429) holds every call until it ends, however many slots are free", () => {
    const w = new SlidingWindow();
    w.pause(100, 5000);
    expect(w.acquire(100, req())).toEqual({ ok: false, retryAfterMs: 5000, reason: "paused" });
    expect(w.acquire(5099, req())).toEqual({ ok: false, retryAfterMs: 1, reason: "paused" });
    expect(w.acquire(5100, req()).ok).toBe(true);
  });

  it("fairness: a connection over its share waits while others are waiting, not while they are not", () => {
    const w = new SlidingWindow();
    const limit = 4;
    expect(w.acquire(0, req("a", limit, 0.5)).ok).toBe(true);
    expect(w.acquire(1, req("a", limit, 0.5)).ok).toBe(true);
    // Nobody else is waiting: a may use the whole budget.
    expect(w.acquire(2, req("a", limit, 0.5)).ok).toBe(true);
    expect(w.acquire(3, req("a", limit, 0.5)).ok).toBe(true);
    expect(w.acquire(4, req("b", limit, 0.5))).toMatchObject({ ok: false, reason: "spent" });
    // b is waiting now: when a slot frees, a (holding 3 of the 4) must leave it to b.
    expect(w.acquire(1000, req("a", limit, 0.5))).toMatchObject({ ok: false, reason: "fair" });
    expect(w.acquire(1000, req("b", limit, 0.5)).ok).toBe(true);
  });
});

describe("refusal bookkeeping: O(1) amortised, counted in entries looked at (not timed)", () => {
  const ask = (w: SlidingWindow, t: number, id: string) =>
    w.acquire(t, { connectionId: id, limit: 1, windowMs: 10_000, fairShare: 0.5 });

  it("after 5,000 refusals of distinct connections, a request looks at no more than the entries that expire", () => {
    const w = new SlidingWindow();
    expect(ask(w, 0, "holder").ok).toBe(true);
    for (let i = 0; i < 5000; i++) expect(ask(w, 1 + i / 1000, `c${i}`).ok).toBe(false);
    for (let i = 0; i < 100; i++) {
      const before = w.visited;
      expect(ask(w, 6 + i, `late${i}`).ok).toBe(false);
      expect(w.visited - before).toBe(0); // nothing expired: nothing looked at
    }
    // The window moves past the holder's slot and every refusal: each leaves once, from the front.
    const before = w.visited;
    expect(ask(w, 20_000, "next").ok).toBe(true);
    expect(w.visited - before).toBe(1 + 5000 + 100);
  });

  it("200,000 refusals over many windows: every entry is looked at once in all", () => {
    const w = new SlidingWindow();
    let refusals = 0;
    let grants = 0;
    for (let i = 0; i < 220_000; i++) {
      const d = ask(w, i / 10, `c${i % 50_000}`);
      if (d.ok) grants++;
      else refusals++;
    }
    expect(refusals).toBeGreaterThanOrEqual(200_000);
    expect(w.visited).toBeLessThanOrEqual(grants + refusals);
  });
});

describe("the proxy within Finch's limits", () => {
  it("100 concurrent calls for one product over 20 connections: Finch sees no 429, the rest get ours", async () => {
    finch().mock.setRateLimits({ company: 20 });
    const ids = await connections(20);
    const call = app();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => call(ids[i % 20] as string)));
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(ok).toHaveLength(20);
    expect(refused).toHaveLength(80);
    expect(finch429s()).toEqual([]);
    expect(companyCalls()).toHaveLength(20);
    for (const res of refused) {
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code).toBe("finch_budget_exhausted");
      const ms = Number(res.headers.get("retry-after-ms"));
      // The first slot frees one window after the end of its 1 s hold: 60 s plus the 5 s margin
      // for the trip to Finch.
      expect(ms).toBeGreaterThan(60_000);
      expect(ms).toBeLessThanOrEqual(66_000);
      expect(res.headers.get("retry-after")).toBe(String(Math.ceil(ms / 1000)));
    }
  });

  it("Retry-After is truthful: waiting that long gets a call through, and Finch never says 429", {
    timeout: 20_000,
  }, async () => {
    finch().mock.setRateLimits({ company: 3 }, 1000);
    const [id] = await connections(1);
    const call = app({ FINCH_RATE_LIMITS: "company=3", FINCH_RATE_WINDOW_S: "1" });
    for (let i = 0; i < 3; i++) expect((await call(id as string)).status).toBe(200);
    const refused = await call(id as string);
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get("retry-after-ms"));
    expect(wait).toBeGreaterThan(0);
    // 1 s hold + 1 s window + 5 s margin.
    expect(wait).toBeLessThanOrEqual(7000);
    await sleep(wait);
    expect((await call(id as string)).status).toBe(200);
    expect(finch429s()).toEqual([]);
  });

  it("Finch's official SDK through the proxy succeeds on its own retries", { timeout: 30_000 }, async () => {
    finch().mock.setRateLimits({ company: 2 }, 1000);
    const [id] = await connections(1);
    const worker = workerWith({ ...ownBudget(), FINCH_RATE_LIMITS: "company=2", FINCH_RATE_WINDOW_S: "1" });
    const client = new Finch({
      accessToken: API_KEY,
      baseURL: `${WORKER_ORIGIN}/api/connections/${id}/finch`,
      fetch: (url, init) => worker(String(url), init as RequestInit),
      maxRetries: 4,
      timeout: 20_000,
    });
    const companies = await Promise.all(Array.from({ length: 4 }, () => client.hris.company.retrieve()));
    expect(companies.every((c) => typeof c.id === "string")).toBe(true);
    expect(finch429s()).toEqual([]);
    expect(companyCalls()).toHaveLength(4);
  });

  it("Finch's own 429 passes through, and pauses the product for the whole app", async () => {
    const [a, b] = await connections(2);
    finch().override("GET /employer/company", (req, n) =>
      n === 1
        ? Response.json(
            { code: 429, name: "rate_limit_exceeded_error", finch_code: "finch_application_rl", message: "slow down" },
            { status: 429, headers: { "retry-after": "30" } },
          )
        : finch().mock.fetch(req),
    );
    const call = app();
    const first = await call(a as string);
    expect(first.status).toBe(429);
    expect(((await first.json()) as { finch_code: string }).finch_code).toBe("finch_application_rl");
    const held = await call(b as string);
    expect(held.status).toBe(429);
    expect(((await held.json()) as { error: { code: string } }).error.code).toBe("finch_budget_exhausted");
    expect(Number(held.headers.get("retry-after"))).toBeGreaterThan(25);
    expect(Number(held.headers.get("retry-after"))).toBeLessThanOrEqual(30);
    expect(companyCalls()).toHaveLength(1);
    // Other products are not held.
    expect((await call(b as string, "/employer/directory")).status).toBe(200);
  });

  it("endpoints outside Finch's table are not budgeted", async () => {
    const [id] = await connections(1);
    const call = app({ FINCH_RATE_LIMITS: "company=1" });
    expect((await call(id as string)).status).toBe(200);
    expect((await call(id as string)).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await call(id as string, "/employer/directory?limit=1")).status).toBe(200);
  });

  it("FINCH_RATE_BUDGET=off: calls go straight to Finch, whose 429 comes back as is", async () => {
    finch().mock.setRateLimits({ company: 2 });
    const [id] = await connections(1);
    const call = app({ FINCH_RATE_BUDGET: "off" });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(id as string)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(finch429s()).toHaveLength(1);
  });

  it("RPC fetchFinch shares the budget and answers our 429 as a Response, like Finch's", async () => {
    const [id] = await connections(1);
    // A product only this test uses: Finch's 429 pauses it for the Worker's own budget.
    finch().override("GET /employer/pay-groups", () =>
      Response.json({ code: 429, name: "rate_limit_exceeded_error" }, { status: 429, headers: { "retry-after": "5" } }),
    );
    const rpc = exports.FinchConnections;
    const first = await rpc.fetchFinch(id as string, { path: "/employer/pay-groups" });
    expect(first.status).toBe(429);
    const second = await rpc.fetchFinch(id as string, { path: "/employer/pay-groups" });
    expect(second.status).toBe(429);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe("finch_budget_exhausted");
    expect(Number(second.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(finch().calls("GET /employer/pay-groups")).toHaveLength(1);
  });
});

describe("configuration", () => {
  it.each<[Partial<Env>, string]>([
    [{ FINCH_RATE_BUDGET: "maybe" }, "FINCH_RATE_BUDGET"],
    [{ FINCH_RATE_LIMITS: "company:20" }, "FINCH_RATE_LIMITS"],
    [{ FINCH_RATE_LIMITS: "company=0" }, "FINCH_RATE_LIMITS"],
    [{ FINCH_RATE_FAIR_SHARE: "1.5" }, "FINCH_RATE_FAIR_SHARE"],
    [{ FINCH_RATE_WINDOW_S: "0" }, "FINCH_RATE_WINDOW_S"],
    [{ RATE_BUDGET: undefined }, "RATE_BUDGET"],
  ])("%o is config_invalid naming %s, and Finch is not called", async (vars, setting) => {
    const [id] = await connections(1);
    const res = await workerWith({ ...ownBudget(), ...vars })(`/api/connections/${id}/finch/employer/company`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("config_invalid");
    expect(body.error.message).toContain(setting);
    expect(companyCalls()).toEqual([]);
  });

  it("without the RATE_BUDGET binding, FINCH_RATE_BUDGET=off still proxies", async () => {
    const [id] = await connections(1);
    const res = await workerWith({ RATE_BUDGET: undefined, FINCH_RATE_BUDGET: "off" })(
      `/api/connections/${id}/finch/employer/company`,
      { headers: { authorization: `Bearer ${API_KEY}` } },
    );
    expect(res.status).toBe(200);
  });
});
