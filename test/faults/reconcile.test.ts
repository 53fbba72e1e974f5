import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig, type ReconcileSettings } from "../../src/config/index";
import { newTrace } from "../../src/lib/trace";
import { leaseMs, type ReconcileReport, reconcileRun } from "../../src/maintenance/reconcile";
import { reconcileCursorStore } from "../../src/maintenance/reconcile-cursor-client";
import { ConnectionStore } from "../../src/storage/connection-store";
import { durableWriters } from "../../src/writer/client";
import type { ReconcileOutcome, Writers } from "../../src/writer/commands";
import { failKv } from "../support/faults";
import { clearKv, seedConnection } from "../support/fixtures";
import { cursorState, resetCursor } from "../support/reconcile";

/**
 * Issue 17: the reconciliation under faults, on a clock the test moves. The position is saved
 * after every writer call, a run stops at its time budget, and one lease in the ReconcileCursor
 * object keeps two runs from ever working at once; a dead run's lease expires.
 */
beforeEach(clearKv);
beforeEach(resetCursor);

const FINCH_TIMEOUT_MS = 10_000;
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

/** Five connections due for a check, in the order a run meets them (by `conn:` key). */
async function dueConnections(n = 5): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await seedConnection({ createdAt: hoursAgo(48) })).connectionId);
  return ids.sort();
}

/**
 * The real writers, with every reconcile call recorded, and `before(id, n)` run first: it may
 * move the clock or return a promise that decides when (and whether) the call goes ahead.
 */
function recordingWriters(before?: (id: string, n: number) => Promise<void> | undefined) {
  const real = durableWriters(env);
  const calls: string[] = [];
  const writers: Writers = (id) => {
    const writer = real(id);
    return {
      ...writer,
      async reconcile(maxAgeMs, trace): Promise<ReconcileOutcome> {
        calls.push(id);
        await before?.(id, calls.length);
        return writer.reconcile(maxAgeMs, trace);
      },
    };
  };
  return { writers, calls };
}

const clock = { t: Date.now(), now: () => clock.t };

function run(writers: Writers, settings: Partial<ReconcileSettings> = {}): Promise<ReconcileReport> {
  const config = getConfig(env);
  return reconcileRun(
    {
      store: new ConnectionStore(config.kv(), config.keyRing()),
      cursor: reconcileCursorStore(env.RECONCILE_CURSOR),
      writers,
      settings: { ...config.reconcile(), maxPerRun: 500, ...settings },
      finchTimeoutMs: FINCH_TIMEOUT_MS,
      now: clock.now,
    },
    newTrace("test-reconcile"),
  );
}

const never = () => new Promise<void>(() => undefined);
const lease = () => leaseMs(getConfig(env).reconcile(), FINCH_TIMEOUT_MS);

describe("reconciliation under faults", () => {
  beforeEach(() => {
    clock.t = Date.now();
  });

  it("saves the position after each connection: a killed run's successor resumes right after the last one finished", async () => {
    const ids = await dueConnections();
    // The third writer call never comes back: the run is as good as killed there.
    const killed = recordingWriters((_, n) => (n === 3 ? never() : undefined));
    void run(killed.writers);
    await vi.waitFor(() => expect(killed.calls).toHaveLength(3));
    expect((await cursorState()).position).toEqual({ a: `conn:${ids[1]}` });

    const next = recordingWriters();
    clock.t += lease();
    expect(await run(next.writers)).toMatchObject({ stopped: "pass_complete", checked: 3 });
    expect(next.calls).toEqual(ids.slice(2));
    expect(await cursorState()).toEqual({ position: {} });
  });

  it("a dead run's lease holds until exactly start + budget + one writer call, then the next run proceeds", async () => {
    const ids = await dueConnections(2);
    const started = clock.t;
    const dead = recordingWriters(() => never());
    void run(dead.writers);
    await vi.waitFor(() => expect(dead.calls).toHaveLength(1));
    expect((await cursorState()).lease?.expiresAt).toBe(started + lease());
    expect(lease()).toBe(30_000 + 2 * FINCH_TIMEOUT_MS + 5_000);

    const next = recordingWriters();
    clock.t = started + lease() - 1;
    expect(await run(next.writers)).toMatchObject({ stopped: "overlap", scanned: 0 });
    expect(next.calls).toEqual([]);
    clock.t = started + lease();
    expect(await run(next.writers)).toMatchObject({ stopped: "pass_complete" });
    expect(next.calls).toEqual(ids);
  });

  it("starts no writer call once the time budget is spent (at it, not one under); the next run continues", async () => {
    const ids = await dueConnections();
    const budgetMs = 30_000;
    const started = clock.t;
    // The first call takes all but 1 ms of the budget, the second the last millisecond.
    const slow = recordingWriters((_, n) => {
      clock.t = started + (n === 1 ? budgetMs - 1 : budgetMs);
      return undefined;
    });
    expect(await run(slow.writers, { budgetMs })).toMatchObject({ stopped: "time_budget", checked: 2 });
    expect(slow.calls).toEqual(ids.slice(0, 2));
    expect((await cursorState()).position).toEqual({ a: `conn:${ids[1]}` });
    expect((await cursorState()).lease).toBeUndefined();

    const next = recordingWriters();
    expect(await run(next.writers, { budgetMs })).toMatchObject({ stopped: "pass_complete", checked: 3 });
    expect(next.calls).toEqual(ids.slice(2));
  });

  it("two runs started together: exactly one works, the other does nothing", async () => {
    const ids = await dueConnections(3);
    const a = recordingWriters();
    const b = recordingWriters();
    const reports = await Promise.all([run(a.writers), run(b.writers)]);
    expect(reports.map((r) => r.stopped).sort()).toEqual(["overlap", "pass_complete"]);
    const idle = reports.find((r) => r.stopped === "overlap");
    expect(idle).toMatchObject({ scanned: 0, due: 0, checked: 0 });
    expect([...a.calls, ...b.calls]).toEqual(ids);
  });

  it("a run that outlived its lease stops at its next step and leaves the new run's position alone", async () => {
    const ids = await dueConnections(3);
    let resume: () => void = () => undefined;
    const stuck = recordingWriters((_, n) => (n === 2 ? new Promise<void>((r) => (resume = r)) : undefined));
    const late = run(stuck.writers);
    await vi.waitFor(() => expect(stuck.calls).toHaveLength(2));

    clock.t += lease();
    const next = recordingWriters();
    expect(await run(next.writers)).toMatchObject({ stopped: "pass_complete" });
    expect(next.calls).toEqual(ids.slice(1));

    resume();
    expect(await late).toMatchObject({ stopped: "lease_lost" });
    expect(stuck.calls).toEqual(ids.slice(0, 2));
    expect(await cursorState()).toEqual({ position: {} });
  });

  it("a run that fails gives its lease back: the next one need not wait for it to expire", async () => {
    const ids = await dueConnections(2);
    const down = failKv("list");
    const failed = recordingWriters();
    await expect(run(failed.writers)).rejects.toMatchObject({ code: "storage_unavailable" });
    expect(failed.calls).toEqual([]);
    expect(await cursorState()).toEqual({ position: {} });
    down.mockRestore();
    const next = recordingWriters();
    expect(await run(next.writers)).toMatchObject({ stopped: "pass_complete" });
    expect(next.calls).toEqual(ids);
  });
});
