import * as v from "valibot";
import type { ReconcileSettings } from "../config";
import { AppError } from "../errors";
import type { Trace } from "../lib/trace";
import type { ConnectionStore, KeyPage } from "../storage/connections";
import type { ReconcileCursorStore, ReconcilePosition } from "../storage/reconcile-cursor";
import type { Writers } from "../writer/protocol";

/**
 * Reconciliation without webhooks: each Cron run walks the `conn:` keys a page at a time from
 * where the last run stopped, and asks the writer of every connection whose status is older
 * than RECONCILE_AFTER_HOURS (listing metadata `sa`) to re-introspect. The writer decides (it
 * skips a record Finch answered for recently, see WriterCore.reconcile) and stores Finch's
 * answer like any other, with its events (reason "reconcile"). So apps on Finch plans without
 * webhooks, and any missed webhook, converge.
 *
 * Bounded per run: at most `maxPerRun` writer calls (each at most one introspect, one after
 * another, so Finch sees a trickle) and MAX_PAGES KV list pages. A pass over every connection
 * takes as many runs as it needs; the position is saved after each run.
 */
const PAGE_SIZE = 100;
const MAX_PAGES = 5;

export interface ReconcileDeps {
  store: ConnectionStore;
  cursor: ReconcileCursorStore;
  writers: Writers;
  settings: ReconcileSettings;
  now: () => number;
}

export interface ReconcileReport {
  scanned: number;
  due: number;
  checked: number;
  fresh: number;
  gone: number;
  failed: number;
  /** Whether this run reached the end of the keys (the next run starts a new pass). */
  pass_complete: boolean;
}

const Meta = v.object({ sa: v.optional(v.string()), partial: v.optional(v.literal(1)) });

/** Due unless the metadata says the status was set within `afterMs` (unknown: due, the writer decides). */
function due(metadata: unknown, now: number, afterMs: number): boolean {
  const meta = v.safeParse(Meta, metadata);
  const at = meta.success && meta.output.sa ? Date.parse(meta.output.sa) : Number.NaN;
  return !(at > now - afterMs);
}

export async function reconcileRun(deps: ReconcileDeps, trace: Trace): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    scanned: 0,
    due: 0,
    checked: 0,
    fresh: 0,
    gone: 0,
    failed: 0,
    pass_complete: false,
  };
  const { afterMs, maxPerRun } = deps.settings;
  if (maxPerRun === 0) return report;
  const start = await deps.cursor.get();
  let position: ReconcilePosition = start;
  let calls = 0;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    let page: KeyPage;
    try {
      page = await deps.store.listAll({ limit: PAGE_SIZE, cursor: position.c });
    } catch (e) {
      // A KV cursor that no longer works: start the pass again next run.
      if (position.c !== undefined && e instanceof AppError) {
        trace.notes.push("reconcile: saved cursor refused, restarting the pass");
        await deps.cursor.put({});
        return report;
      }
      throw e;
    }
    const after = position.a;
    for (const key of after === undefined ? page.keys : page.keys.filter((k) => k.key > after)) {
      if (!due(key.metadata, deps.now(), afterMs)) {
        report.scanned++;
        position = { c: position.c, a: key.key };
        continue;
      }
      if (calls >= maxPerRun) return save(deps, start, position, report);
      report.scanned++;
      report.due++;
      calls++;
      try {
        report[await deps.writers(key.connectionId).reconcile(afterMs, trace)]++;
      } catch (e) {
        report.failed++;
        trace.notes.push(`reconcile ${key.connectionId}: ${e instanceof AppError ? e.code : "error"}`);
      }
      position = { c: position.c, a: key.key };
    }
    if (page.complete) {
      report.pass_complete = true;
      return save(deps, start, {}, report);
    }
    position = { c: page.cursor };
  }
  return save(deps, start, position, report);
}

async function save(
  deps: ReconcileDeps,
  start: ReconcilePosition,
  position: ReconcilePosition,
  report: ReconcileReport,
): Promise<ReconcileReport> {
  if (position.c !== start.c || position.a !== start.a) await deps.cursor.put(position);
  return report;
}
