import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError, ConfigError } from "../errors";
import { logTrace, newTrace } from "../lib/trace";
import { ConnectionStore } from "../storage/connection-store";
import { durableWriters } from "../writer/client";
import { reconcileRun } from "./reconcile";
import { reconcileCursorStore } from "./reconcile-cursor-client";

/**
 * The Worker's `scheduled()` entry (the Cron Trigger in wrangler.toml): one reconciliation run
 * (src/maintenance/reconcile.ts), one JSON log line with what it did (`stopped` says why it ended:
 * "overlap" when another run holds the lease). A failure is logged and thrown, so Cloudflare
 * records the run as failed; the next run resumes from the last saved position.
 */
export async function handleScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const started = performance.now();
  const trace = newTrace(`cron-${controller.scheduledTime}`);
  trace.actor = "cron";
  try {
    const config = getConfig(env);
    const settings = config.reconcile();
    if (!settings.cursor) {
      logTrace(trace, started, { level: "info", msg: "reconcile", cron: controller.cron, stopped: "off" });
      return;
    }
    const report = await reconcileRun(
      {
        store: new ConnectionStore(config.kv(), config.keyRing()),
        cursor: reconcileCursorStore(settings.cursor),
        writers: durableWriters(env),
        settings,
        finchTimeoutMs: config.finch().timeoutMs,
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
