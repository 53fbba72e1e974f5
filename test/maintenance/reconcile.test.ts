import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { getConfig } from "../../src/config/index";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { cursorState, resetCursor } from "../support/reconcile";

/**
 * The Cron Trigger's reconciliation: connections whose status is older than
 * RECONCILE_AFTER_HOURS are introspected again through their writers, a bounded number per
 * run, resuming from a position kept in the ReconcileCursor object; a status Finch changed
 * without a webhook is stored with its `connection.status_changed` event (reason "reconcile").
 * Runs under faults (kills, the time budget, overlapping runs): test/reconcile-faults.test.ts.
 */
beforeEach(clearKv);
beforeEach(resetCursor);
afterEach(() => vi.restoreAllMocks());

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
const introspects = () => finch().calls("GET /introspect").length;

/** One Cron run of the Worker's scheduled() handler, with `vars` over the pool's bindings. */
async function runWith(vars: Partial<Env> = {}): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "*/10 * * * *" }), { ...env, ...vars } as Env);
  await waitOnExecutionContext(ctx);
}

const settingOf = (run: () => unknown) => {
  try {
    run();
  } catch (e) {
    return (e as { setting?: string }).setting;
  }
  return undefined;
};

describe("scheduled reconciliation", () => {
  it("re-introspects stale connections, stores Finch's status with a reconcile event, skips fresh ones", async () => {
    const sendBatch = vi.spyOn(env.APP_EVENTS as Queue<unknown>, "sendBatch");
    const stale = await seedConnection({ createdAt: hoursAgo(48) });
    const quiet = await seedConnection({ createdAt: hoursAgo(30) });
    const fresh = await seedConnection({ createdAt: hoursAgo(1) });
    // Finch changed the status and no webhook came (a plan without webhooks).
    finch().mock.setConnectionStatus(stale.connectionId, "reauth");

    await runWith();
    expect(introspects()).toBe(2);
    expect((await rawRecord(stale.connectionId))?.status).toBe("reauth");
    expect((await rawRecord(quiet.connectionId))?.status).toBe("connected");
    expect((await rawRecord(fresh.connectionId))?.gen).toBeUndefined();
    const events = sendBatch.mock.calls.flatMap(([batch]) => [...batch].map((m) => m.body as AppEvent));
    const of = (id: string) => events.filter((e) => e.connection_id === id);
    expect(of(stale.connectionId)).toMatchObject([
      {
        type: "connection.status_changed",
        data: { old_status: "connected", new_status: "reauth", reason: "reconcile" },
        connection: { status: "reauth" },
      },
    ]);
    // The quiet one's status held, but Finch's answer filled in facts the seeded record lacked.
    expect(of(quiet.connectionId)).toMatchObject([
      {
        type: "connection.updated",
        data: { changed: ["authentication_methods", "entities", "last_successful_sync"], reason: "reconcile" },
        connection: { status: "connected" },
      },
    ]);
    expect(events).toHaveLength(2);
    // The pass ended: the position is back at the start, and the lease is given back.
    expect(await cursorState()).toEqual({ position: {} });
    await runWith();
    expect(introspects()).toBe(2);
  });

  it("makes at most RECONCILE_MAX_PER_RUN writer calls a run and resumes where the last run stopped", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await seedConnection({ createdAt: hoursAgo(25) })).connectionId);
    const asked = () =>
      finch()
        .calls("GET /introspect")
        .map((r) => r.headers.get("authorization"));

    await runWith({ RECONCILE_MAX_PER_RUN: "2" });
    expect(introspects()).toBe(2);
    expect((await cursorState()).position.a).toMatch(/^conn:/);
    await runWith({ RECONCILE_MAX_PER_RUN: "2" });
    expect(introspects()).toBe(4);
    await runWith({ RECONCILE_MAX_PER_RUN: "2" });
    expect(introspects()).toBe(5);
    // Every connection exactly once, and the pass is over.
    expect(new Set(asked()).size).toBe(5);
    expect(await cursorState()).toEqual({ position: {} });
  });

  it("two Cron runs at once: one works, the other logs that it found the lease held and does nothing", async () => {
    for (let i = 0; i < 3; i++) await seedConnection({ createdAt: hoursAgo(25) });
    const mark = logLines().length;
    await Promise.all([runWith(), runWith()]);
    const lines = jsonLogLinesSince(mark).filter((l) => l.msg === "reconcile");
    expect(lines.map((l) => l.stopped).sort()).toEqual(["overlap", "pass_complete"]);
    expect(lines.find((l) => l.stopped === "overlap")).toMatchObject({ level: "info", scanned: 0, due: 0 });
    expect(introspects()).toBe(3);
  });

  it("RECONCILE_MAX_PER_RUN=0 turns it off; RECONCILE_AFTER_HOURS picks what is stale", async () => {
    await seedConnection({ createdAt: hoursAgo(3) });
    await runWith({ RECONCILE_MAX_PER_RUN: "0", RECONCILE_AFTER_HOURS: "1" });
    expect(introspects()).toBe(0);
    await runWith({ RECONCILE_AFTER_HOURS: "4" });
    expect(introspects()).toBe(0);
    await runWith({ RECONCILE_AFTER_HOURS: "2" });
    expect(introspects()).toBe(1);
  });

  it("refuses bad settings with errors naming the setting, and the run fails without calling Finch", async () => {
    for (const [name, value] of [
      ["RECONCILE_AFTER_HOURS", "0"],
      ["RECONCILE_AFTER_HOURS", "1.5"],
      ["RECONCILE_MAX_PER_RUN", "-1"],
      ["RECONCILE_MAX_PER_RUN", "lots"],
      ["RECONCILE_TIME_BUDGET_S", "0"],
      ["RECONCILE_TIME_BUDGET_S", "601"],
      ["RECONCILE_TIME_BUDGET_S", "1.5"],
      ["RECONCILE_CURSOR", undefined],
    ] as const) {
      const bad = { ...env, [name]: value } as Env;
      expect(settingOf(() => getConfig(bad).reconcile())).toBe(name);
      expect(getConfig(bad).problems()).toContainEqual(expect.objectContaining({ setting: name }));
    }
    for (const [text, ms] of [
      ["1", 1_000],
      ["600", 600_000],
      [undefined, 30_000],
    ] as const) {
      expect(getConfig({ ...env, RECONCILE_TIME_BUDGET_S: text } as Env).reconcile().budgetMs).toBe(ms);
    }
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    await seedConnection({ createdAt: hoursAgo(48) });
    await expect(runWith({ RECONCILE_AFTER_HOURS: "never" })).rejects.toMatchObject({
      setting: "RECONCILE_AFTER_HOURS",
    });
    expect(introspects()).toBe(0);
  });
});
