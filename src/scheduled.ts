import { getConfig } from "./config";
import { reconcileRun } from "./domain/reconcile";
import type { Env } from "./env";
import { AppError, ConfigError } from "./errors";
import { logTrace, newTrace } from "./lib/trace";
import { ConnectionStore } from "./storage/connections";
import { ReconcileCursorStore } from "./storage/reconcile-cursor";
import { durableWriters } from "./writer/client";

/**
 * The Worker's `scheduled()` entry (the Cron Trigger in wrangler.toml): one reconciliation run
 * (src/domain/reconcile.ts), one JSON log line with what it did. A failure is logged and
 * thrown, so Cloudflare records the run as failed; the next run resumes from the saved cursor.
 */
export async function handleScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const started = performance.now();
  const trace = newTrace(`cron-${controller.scheduledTime}`);
  try {
    const config = getConfig(env);
    const report = await reconcileRun(
      {
        store: new ConnectionStore(config.kv(), config.keyRing()),
        cursor: new ReconcileCursorStore(config.kv()),
        writers: durableWriters(env),
        settings: config.reconcile(),
        now: () => Date.now(),
      },
      trace,
    );
    logTrace(trace, started, { level: "info", msg: "reconcile", cron: controller.cron, ...report });
  } catch (e) {
    const code = e instanceof AppError ? e.code : "internal_error";
    const setting = e instanceof ConfigError ? { setting: e.setting } : {};
    logTrace(trace, started, { level: "error", msg: "reconcile", cron: controller.cron, outcome: code, ...setting });
    throw e;
  }
}
