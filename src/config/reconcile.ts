import type { Binding, Env } from "../env";
import { durableObject, intSetting } from "./read";

/** The periodic re-introspection (src/maintenance/reconcile.ts). */
export interface ReconcileSettings {
  /** A connection whose status is older than this is introspected again. */
  afterMs: number;
  /** Writer calls (each at most one introspect at Finch) per Cron run; 0 turns it off. */
  maxPerRun: number;
  /** A run starts no writer call after this long; the next run continues from there. */
  budgetMs: number;
  /** RECONCILE_CURSOR: the position and the run lease; undefined only when reconciliation is off. */
  cursor: Binding<"RECONCILE_CURSOR"> | undefined;
}

/**
 * Introspect is not in Finch's per-product rate table, but every call counts against the
 * per-IP limit (1,000 per 5 minutes) that the Worker shares with proxied calls. The default,
 * 20 a run on the every-10-minutes trigger, is about 1% of that.
 */
const RECONCILE_DEFAULTS = { afterHours: 24, maxPerRun: 20, budgetS: 30 } as const;

export function parseReconcile(env: Env): ReconcileSettings {
  const hours = intSetting(env, "RECONCILE_AFTER_HOURS", RECONCILE_DEFAULTS.afterHours, 1, 24 * 30);
  const maxPerRun = intSetting(env, "RECONCILE_MAX_PER_RUN", RECONCILE_DEFAULTS.maxPerRun, 0, 500);
  const budgetS = intSetting(env, "RECONCILE_TIME_BUDGET_S", RECONCILE_DEFAULTS.budgetS, 1, 600);
  const cursor =
    maxPerRun === 0
      ? undefined
      : durableObject(env.RECONCILE_CURSOR, "RECONCILE_CURSOR", " (or set RECONCILE_MAX_PER_RUN=0)");
  return { afterMs: hours * 3_600_000, maxPerRun, budgetMs: budgetS * 1000, cursor };
}
