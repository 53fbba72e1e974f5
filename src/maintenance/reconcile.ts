import * as v from "valibot";
import type { ReconcileSettings } from "../config";
import { AppError } from "../errors";
import type { Trace } from "../lib/trace";
import type { ConnectionStore, KeyPage } from "../storage/connection-store";
import type { Writers } from "../writer/commands";
import type { ReconcileCursorStore } from "./reconcile-cursor-client";
import type { ReconcilePosition } from "./reconcile-lease";

/**
 * Reconciliation without webhooks: each Cron run walks the `conn:` keys a page at a time from
 * where the last run stopped, and asks the writer of every connection whose status is older
 * than RECONCILE_AFTER_HOURS (listing metadata `sa`) to re-introspect. The writer decides (it
 * skips a record Finch answered for recently, see WriterOperations.reconcile) and stores Finch's
 * answer like any other, with its events (reason "reconcile"). So apps on Finch plans without
 * webhooks, and any missed webhook, converge.
 *
 * Bounded per run: at most `maxPerRun` writer calls (each at most one introspect, one after
 * another, so Finch sees a trickle), no writer call started after the time budget, and
 * MAX_PAGES KV list pages. A pass over every connection takes as many runs as it needs.
 *
 * Faults: the position is saved after every writer call (a killed run's successor resumes
 * right after the last connection it finished), and a run works only while it holds the one
 * lease (maintenance/reconcile-lease.ts): a second run started meanwhile does nothing, and a dead
 * run's lease expires at start + budget + one writer call's bound.
 */
const PAGE_SIZE = 100;
const MAX_PAGES = 5;
/** Beyond a writer call's Finch time (two attempts): the Durable Object hop and the KV write. */
const CALL_SLACK_MS = 5_000;

export interface ReconcileDeps {
  store: ConnectionStore;
  cursor: ReconcileCursorStore;
  writers: Writers;
  settings: ReconcileSettings;
  /** FINCH_TIMEOUT_MS: one writer call lasts at most about two of these (one retry). */
  finchTimeoutMs: number;
  now: () => number;
}

/** Why a run ended. */
export type ReconcileStop =
  | "off"
  | "overlap"
  | "pass_complete"
  | "max_per_run"
  | "time_budget"
  | "page_limit"
  | "cursor_reset"
  | "lease_lost";

export interface ReconcileReport {
  scanned: number;
  due: number;
  checked: number;
  fresh: number;
  gone: number;
  failed: number;
  /** Whether this run reached the end of the keys (the next run starts a new pass). */
  pass_complete: boolean;
  stopped: ReconcileStop;
}

const Meta = v.object({ sa: v.optional(v.string()), partial: v.optional(v.literal(1)) });

/** Due unless the metadata says the status was set within `afterMs` (unknown: due, the writer decides). */
function due(metadata: unknown, now: number, afterMs: number): boolean {
  const meta = v.safeParse(Meta, metadata);
  const at = meta.success && meta.output.sa ? Date.parse(meta.output.sa) : Number.NaN;
  return !(at > now - afterMs);
}

/** How long a run's lease lasts: its budget, plus one writer call begun just before the end. */
export const leaseMs = (settings: ReconcileSettings, finchTimeoutMs: number): number =>
  settings.budgetMs + 2 * finchTimeoutMs + CALL_SLACK_MS;

export async function reconcileRun(deps: ReconcileDeps, trace: Trace): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    scanned: 0,
    due: 0,
    checked: 0,
    fresh: 0,
    gone: 0,
    failed: 0,
    pass_complete: false,
    stopped: "off",
  };
  if (deps.settings.maxPerRun === 0) return report;
  const holder = crypto.randomUUID();
  const started = deps.now();
  const grant = await deps.cursor.acquire(holder, started, leaseMs(deps.settings, deps.finchTimeoutMs));
  if (!grant.acquired) {
    trace.notes.push(`reconcile: another run holds the lease until ${new Date(grant.expiresAt).toISOString()}`);
    report.stopped = "overlap";
    return report;
  }
  const run = { deps, trace, report, holder, started, position: grant.position };
  try {
    report.stopped = await walk(run);
  } catch (e) {
    // Positions are saved as the run goes; give the lease back so the next run need not wait.
    await deps.cursor.release(holder).catch(() => trace.notes.push("reconcile: lease not released"));
    throw e;
  }
  report.pass_complete = report.stopped === "pass_complete";
  if (report.stopped !== "lease_lost") await deps.cursor.release(holder, run.position);
  return report;
}

interface Run {
  deps: ReconcileDeps;
  trace: Trace;
  report: ReconcileReport;
  holder: string;
  started: number;
  /** Where the run is; saved after each writer call and when the run ends. */
  position: ReconcilePosition;
}

async function walk(run: Run): Promise<ReconcileStop> {
  const { deps, trace, report } = run;
  const { afterMs, maxPerRun, budgetMs } = deps.settings;
  let calls = 0;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    let page: KeyPage;
    try {
      page = await deps.store.listAll({ limit: PAGE_SIZE, cursor: run.position.c });
    } catch (e) {
      // A KV cursor that no longer works: start the pass again next run.
      if (run.position.c !== undefined && e instanceof AppError) {
        trace.notes.push("reconcile: saved cursor refused, restarting the pass");
        run.position = {};
        return "cursor_reset";
      }
      throw e;
    }
    const after = run.position.a;
    for (const key of after === undefined ? page.keys : page.keys.filter((k) => k.key > after)) {
      if (!due(key.metadata, deps.now(), afterMs)) {
        report.scanned++;
        run.position = { c: run.position.c, a: key.key };
        continue;
      }
      if (calls >= maxPerRun) return "max_per_run";
      // Checked between writer calls; a call already started is bounded by Finch's timeout.
      if (deps.now() - run.started >= budgetMs) return "time_budget";
      report.scanned++;
      report.due++;
      calls++;
      try {
        report[await deps.writers(key.connectionId).reconcile(afterMs, trace)]++;
      } catch (e) {
        report.failed++;
        trace.notes.push(`reconcile ${key.connectionId}: ${e instanceof AppError ? e.code : "error"}`);
      }
      run.position = { c: run.position.c, a: key.key };
      if (!(await deps.cursor.advance(run.holder, run.position))) {
        trace.notes.push("reconcile: the lease expired and another run took it; stopping");
        return "lease_lost";
      }
    }
    if (page.complete) {
      run.position = {};
      return "pass_complete";
    }
    run.position = { c: page.cursor };
  }
  return "page_limit";
}
