import { abortAllDurableObjects, createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { FinchConnections } from "../../src/rpc/entrypoint";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import { API_KEY } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { budgetApp, ownBudget, workerWith } from "../support/worker";

/**
 * Issue 18: a rate budget that is a guarantee, not a hope. Each case here failed before the
 * change: a call that never reaches Finch spent a slot; a Finch 429 with a huge Retry-After
 * paused the app for as long as it said; the window did not survive the object's reset; a
 * slow token read sent a call after its slot had stopped counting; and an unreachable budget
 * answered an undocumented 503 storage_unavailable.
 */
beforeEach(clearKv);

const companyCalls = () => finch().calls("GET /employer/company");
const finch429s = () => finch().mock.requests.filter((r) => r.status === 429);
const code = async (res: Response) => ((await res.clone().json()) as { error?: { code: string } }).error?.code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connections(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push((await seedConnection({ customerId: `g${i}`, customerName: `G ${i}` })).connectionId);
  return ids;
}

/** The RPC entrypoint over another configuration (exports.FinchConnections has the pool's). */
const rpcWith = (vars: Partial<Env>) => new FinchConnections(createExecutionContext(), { ...env, ...vars } as Env);

/** Finch's 429, as its docs describe it: the rate-limit error body, with or without Retry-After. */
function finch429(finchCode: string, retryAfter?: string): Response {
  const headers: Record<string, string> = retryAfter === undefined ? {} : { "retry-after": retryAfter };
  return new Response(
    JSON.stringify({ code: 429, name: "rate_limit_exceeded_error", finch_code: finchCode, message: "slow down" }),
    { status: 429, headers: { "content-type": "application/json", ...headers } },
  );
}

describe("case 1: only a call that goes to Finch spends a slot", () => {
  it("twenty calls for unknown or disconnected connections answer 404 and leave the budget whole", async () => {
    const [live, gone] = await connections(2);
    const del = await workerWith({})(`/api/connections/${gone}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(del.status).toBe(200);
    const call = budgetApp();
    const unknown = Array.from({ length: 19 }, () => crypto.randomUUID());
    for (const id of [...unknown, gone as string]) {
      const res = await call(id);
      expect(res.status).toBe(404);
      expect(await code(res)).toBe("connection_not_found");
    }
    // The whole budget of 20 is still there: exactly 20 calls go out, the 21st is ours to refuse.
    for (let i = 0; i < 20; i++) expect((await call(live as string)).status).toBe(200);
    const over = await call(live as string);
    expect(over.status).toBe(429);
    expect(await code(over)).toBe("finch_budget_exhausted");
    expect(companyCalls()).toHaveLength(20);
  });

  it("concurrent unknown ids, while the slot request is still in flight, give their slots back too", async () => {
    const [live] = await connections(1);
    const call = budgetApp({ FINCH_RATE_LIMITS: "company=3" });
    const answers = await Promise.all(Array.from({ length: 10 }, () => call(crypto.randomUUID())));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(404));
    for (let i = 0; i < 3; i++) expect((await call(live as string)).status).toBe(200);
    expect((await call(live as string)).status).toBe(429);
  });

  it("RPC fetchFinch: an unknown id throws connection_not_found and spends nothing", async () => {
    const [live] = await connections(1);
    const vars = { ...ownBudget(), FINCH_RATE_LIMITS: "company=2" };
    const rpc = rpcWith(vars);
    for (let i = 0; i < 4; i++) {
      await expect(rpc.fetchFinch(crypto.randomUUID(), { path: "/employer/company" })).rejects.toThrow(
        /connection_not_found/,
      );
    }
    for (let i = 0; i < 2; i++)
      expect((await rpc.fetchFinch(live as string, { path: "/employer/company" })).status).toBe(200);
    expect((await rpc.fetchFinch(live as string, { path: "/employer/company" })).status).toBe(429);
  });
});

describe("case 2: a Finch 429 pauses for at most FINCH_RATE_MAX_PAUSE_S, per-IP limits pause everything", () => {
  it.each([
    ["604800", {}, 3600],
    ["9999999999", {}, 3600],
    ["604800", { FINCH_RATE_MAX_PAUSE_S: "120" }, 120],
    ["86400", { FINCH_RATE_MAX_PAUSE_S: "86400" }, 86400],
  ])("Retry-After: %s with %o: our 429 says at most %i s", async (retryAfter, vars, cap) => {
    const [a, b] = await connections(2);
    finch().override("GET /employer/company", () => finch429("finch_application_rl", retryAfter));
    const call = budgetApp(vars);
    const first = await call(a as string);
    expect(first.status).toBe(429);
    // Finch's answer passes through as sent, its Retry-After included.
    expect(first.headers.get("retry-after")).toBe(retryAfter);
    const held = await call(b as string);
    expect(held.status).toBe(429);
    expect(await code(held)).toBe("finch_budget_exhausted");
    const seconds = Number(held.headers.get("retry-after"));
    expect(seconds).toBeLessThanOrEqual(cap);
    expect(seconds).toBeGreaterThan(cap - 5);
    expect(Number(held.headers.get("retry-after-ms"))).toBeLessThanOrEqual(cap * 1000);
    expect(companyCalls()).toHaveLength(1);
  });

  it("finch_api_ip_rl pauses every product; Finch's answer passes through byte for byte", async () => {
    const [a, b] = await connections(2);
    const sent = finch429("finch_api_ip_rl");
    const bytes = await sent.clone().text();
    finch().override("GET /employer/company", () => sent.clone());
    const call = budgetApp({ FINCH_RATE_MAX_PAUSE_S: "600" });
    const first = await call(a as string);
    expect(first.status).toBe(429);
    expect(await first.text()).toBe(bytes);
    for (const path of ["/employer/directory", "/employer/payment", "/employer/company"]) {
      const held = await call(b as string, path);
      expect(held.status, path).toBe(429);
      expect(await code(held)).toBe("finch_budget_exhausted");
      // Without a Retry-After, Finch's 60-minute penalty, capped by the setting.
      expect(Number(held.headers.get("retry-after"))).toBeGreaterThan(595);
      expect(Number(held.headers.get("retry-after"))).toBeLessThanOrEqual(600);
    }
    expect(finch().calls("GET /employer/directory")).toEqual([]);
  });

  it("finch_application_rl pauses only its product", async () => {
    const [a] = await connections(1);
    finch().override("GET /employer/company", () => finch429("finch_application_rl"));
    const call = budgetApp();
    expect((await call(a as string)).status).toBe(429);
    expect((await call(a as string, "/employer/directory")).status).toBe(200);
  });

  it("a per-IP 429 on an endpoint outside the table pauses the budgeted products too", async () => {
    const [a] = await connections(1);
    finch().override("GET /employer/benefits", () => finch429("finch_api_ip_rl", "30"));
    const call = budgetApp();
    expect((await call(a as string, "/employer/benefits")).status).toBe(429);
    const held = await call(a as string);
    expect(held.status).toBe(429);
    expect(Number(held.headers.get("retry-after"))).toBeLessThanOrEqual(30);
    expect(companyCalls()).toEqual([]);
  });

  it("RPC fetchFinch: the same cap and the same per-IP pause", async () => {
    const [a] = await connections(1);
    finch().override("GET /employer/company", () => finch429("finch_api_ip_rl", "604800"));
    const rpc = rpcWith({ ...ownBudget(), FINCH_RATE_LIMITS: "", FINCH_RATE_MAX_PAUSE_S: "300" });
    expect((await rpc.fetchFinch(a as string, { path: "/employer/company" })).status).toBe(429);
    const held = await rpc.fetchFinch(a as string, { path: "/employer/directory" });
    expect(held.status).toBe(429);
    expect(await code(held)).toBe("finch_budget_exhausted");
    expect(Number(held.headers.get("retry-after"))).toBeLessThanOrEqual(300);
    expect(finch().calls("GET /employer/directory")).toEqual([]);
  });
});

describe("case 3: the window survives the budget object's reset", () => {
  it("20 calls, the object is reset (memory lost, storage kept), 20 more: Finch still sees 20", async () => {
    finch().mock.setRateLimits({ company: 20 });
    const ids = await connections(4);
    const call = budgetApp();
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => call(ids[i % 4] as string)));
    expect(first.every((r) => r.status === 200)).toBe(true);
    await abortAllDurableObjects();
    const second = await Promise.all(Array.from({ length: 20 }, (_, i) => call(ids[i % 4] as string)));
    for (const res of second) {
      expect(res.status).toBe(429);
      expect(await code(res)).toBe("finch_budget_exhausted");
    }
    expect(companyCalls()).toHaveLength(20);
    expect(finch429s()).toEqual([]);
  });

  it("a pause survives the reset too", async () => {
    const [a] = await connections(1);
    finch().override("GET /employer/company", () => finch429("finch_application_rl", "120"));
    const call = budgetApp();
    expect((await call(a as string)).status).toBe(429);
    await abortAllDurableObjects();
    const held = await call(a as string);
    expect(held.status).toBe(429);
    expect(await code(held)).toBe("finch_budget_exhausted");
    expect(companyCalls()).toHaveLength(1);
  });
});

describe("case 4: a slot counts from when the call is sent", () => {
  /** The next KV read of a connection record takes `ms` (the others are as fast as ever). */
  function slowNextRead(ms: number) {
    const get = env.CONNECTIONS.get.bind(env.CONNECTIONS) as (...a: unknown[]) => Promise<unknown>;
    let slowed = false;
    vi.spyOn(env.CONNECTIONS, "get").mockImplementation((async (...args: unknown[]) => {
      if (!slowed && String(args[0]).startsWith("conn:")) {
        slowed = true;
        await sleep(ms);
      }
      return get(...args);
    }) as KVNamespace["get"]);
  }

  it("a 1.5 s token read does not put two calls in one Finch window at a limit of one", async () => {
    finch().mock.setRateLimits({ company: 1 }, 1000);
    const [a, b] = await connections(2);
    const call = budgetApp({ FINCH_RATE_LIMITS: "company=1", FINCH_RATE_WINDOW_S: "1" });
    slowNextRead(1500);
    const started = Date.now();
    expect((await call(a as string)).status).toBe(200);
    // Past the old slot's end (granted at the start, counted 1 s + 1 s margin), within Finch's
    // 1 s window of the slow call's arrival.
    await sleep(Math.max(0, 2100 - (Date.now() - started)));
    const next = await call(b as string);
    expect(finch429s()).toEqual([]);
    expect(next.status).toBe(429);
    expect(await code(next)).toBe("finch_budget_exhausted");
    expect(companyCalls()).toHaveLength(1);
  });

  it("the stale slot is given back when the call asks again: a limit of two still serves two", async () => {
    const [a, b] = await connections(2);
    const call = budgetApp({ FINCH_RATE_LIMITS: "company=2" });
    slowNextRead(1500);
    expect((await call(a as string)).status).toBe(200);
    expect((await call(b as string)).status).toBe(200);
    expect((await call(b as string)).status).toBe(429);
    expect(companyCalls()).toHaveLength(2);
  });
});

describe("case 7: an unreachable budget object is a documented choice", () => {
  /** A RATE_BUDGET binding whose object never answers (every call rejects, as an overloaded object's do). */
  function unreachableBudget(): Env["RATE_BUDGET"] {
    const ns = env.RATE_BUDGET as NonNullable<Env["RATE_BUDGET"]>;
    const fail = () => Promise.reject(new Error("Durable Object reset because its code was updated."));
    return {
      idFromName: (name: string) => ns.idFromName(name),
      get: () => ({ acquire: fail, release: fail, pause: fail }),
    } as unknown as Env["RATE_BUDGET"];
  }

  it("closed (the default): 503 finch_budget_unavailable with Retry-After, and Finch is not called", async () => {
    const [a] = await connections(1);
    const res = await budgetApp({ RATE_BUDGET: unreachableBudget() })(a as string);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("finch_budget_unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(companyCalls()).toEqual([]);
  });

  it("open: the call goes to Finch, and the log line says the budget was skipped", async () => {
    const [a] = await connections(1);
    const mark = logLines().length;
    const res = await budgetApp({
      RATE_BUDGET: unreachableBudget(),
      FINCH_RATE_BUDGET_UNAVAILABLE: "open",
    })(a as string);
    expect(res.status).toBe(200);
    expect(companyCalls()).toHaveLength(1);
    const request = jsonLogLinesSince(mark).find((line) => line.msg === "request");
    expect(JSON.stringify(request?.notes)).toContain("budget unreachable");
  });

  /** The real budget objects, whose answers take `ms` longer on their way back (give-backs may fail). */
  function slowBudget(ms: number, releaseFails = false): Env["RATE_BUDGET"] {
    const ns = env.RATE_BUDGET as NonNullable<Env["RATE_BUDGET"]>;
    return {
      idFromName: (name: string) => ns.idFromName(name),
      get(id: DurableObjectId) {
        const stub = ns.get(id);
        return {
          acquire: async (req: Parameters<typeof stub.acquire>[0]) => {
            const answer = await stub.acquire(req);
            await sleep(ms);
            return answer;
          },
          release: (c: string, g: number) =>
            releaseFails ? Promise.reject(new Error("unreachable")) : stub.release(c, g),
          pause: (m: number) => stub.pause(m),
        };
      },
    } as unknown as Env["RATE_BUDGET"];
  }

  it("an object whose answers come back after the hold, twice: 503, and both stale slots are given back", async () => {
    const [a] = await connections(1);
    const budget = { ...ownBudget(), FINCH_RATE_LIMITS: "company=2" };
    const mark = logLines().length;
    const res = await budgetApp({ ...budget, RATE_BUDGET: slowBudget(1_100) })(a as string);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("finch_budget_unavailable");
    const request = jsonLogLinesSince(mark).find((line) => line.msg === "request");
    expect(JSON.stringify(request?.notes)).toContain("asked again");
    expect(companyCalls()).toEqual([]);
    // Nothing was spent: the same application still has both of its slots.
    const call = budgetApp(budget);
    expect((await call(a as string)).status).toBe(200);
    expect((await call(a as string)).status).toBe(200);
    expect((await call(a as string)).status).toBe(429);
  });

  it("open: an object that answers too late lets the call go, noted in the log", async () => {
    const [a] = await connections(1);
    const mark = logLines().length;
    const res = await budgetApp({ RATE_BUDGET: slowBudget(1_100), FINCH_RATE_BUDGET_UNAVAILABLE: "open" })(a as string);
    expect(res.status).toBe(200);
    expect(companyCalls()).toHaveLength(1);
    const request = jsonLogLinesSince(mark).find((line) => line.msg === "request");
    expect(JSON.stringify(request?.notes)).toContain("budget unreachable");
  });

  it("a give-back that fails leaves the answer as it was, and says so in the log", async () => {
    const mark = logLines().length;
    const res = await budgetApp({ RATE_BUDGET: slowBudget(0, true) })(crypto.randomUUID());
    expect(res.status).toBe(404);
    expect(await code(res)).toBe("connection_not_found");
    const request = jsonLogLinesSince(mark).find((line) => line.msg === "request");
    expect(JSON.stringify(request?.notes)).toContain("slot not given back");
  });

  it("RPC fetchFinch answers the 503 as a Response, like HTTP", async () => {
    const [a] = await connections(1);
    const rpc = rpcWith({ ...ownBudget(), RATE_BUDGET: unreachableBudget() });
    const res = await rpc.fetchFinch(a as string, { path: "/employer/company" });
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("finch_budget_unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(companyCalls()).toEqual([]);
  });
});

describe("configuration of the new settings", () => {
  it.each<[Partial<Env>, string]>([
    [{ FINCH_RATE_MAX_PAUSE_S: "0" }, "FINCH_RATE_MAX_PAUSE_S"],
    [{ FINCH_RATE_MAX_PAUSE_S: "86401" }, "FINCH_RATE_MAX_PAUSE_S"],
    [{ FINCH_RATE_MAX_PAUSE_S: "1h" }, "FINCH_RATE_MAX_PAUSE_S"],
    [{ FINCH_RATE_BUDGET_UNAVAILABLE: "maybe" }, "FINCH_RATE_BUDGET_UNAVAILABLE"],
  ])("%o is config_invalid naming %s, and Finch is not called", async (vars, setting) => {
    const [a] = await connections(1);
    const res = await budgetApp(vars)(a as string);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("config_invalid");
    expect(body.error.message).toContain(setting);
    expect(companyCalls()).toEqual([]);
  });

  it.each([["1"], ["86400"]])("FINCH_RATE_MAX_PAUSE_S=%s is accepted", async (value) => {
    const [a] = await connections(1);
    expect((await budgetApp({ FINCH_RATE_MAX_PAUSE_S: value })(a as string)).status).toBe(200);
  });
});
