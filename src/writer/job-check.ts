import { introspect } from "../finch/api";
import type { FinchSettings } from "../finch/http";
import { getJob } from "../finch/jobs";
import type { Trace } from "../lib/trace";
import type { SyncJob, SyncJobClaim } from "./change-events";

/**
 * Finch's word on a sync-job webhook, asked with the connection's token before anything is
 * recorded: a webhook names a job, it never proves one (anyone holding a leaked
 * WEBHOOK_SECRETS can sign one). The completion time is always Finch's, never the webhook's
 * arrival. undefined: Finch does not confirm it (not complete, unknown, another connection's,
 * no completion time), and nothing may be recorded. Errors reaching Finch propagate.
 *
 * - `data_sync_all`: GET /jobs/automated/{job_id}. Finch answers 404 for a job of another
 *   connection (the token names the connection); the job must be a data_sync_all, `complete`,
 *   with its `completed_at`.
 * - Initial syncs (`initial_data_sync_org`, `..._payroll`): Finch's automated-jobs endpoint
 *   covers only `data_sync_all` and `w4_form_employee_sync` (the official SDK's
 *   `jobs.automated.retrieve`), and the event's `job_url` is not documented to answer. So the
 *   connection itself is asked (GET /introspect): an initial sync is the first sync, and Finch
 *   reports a finished one as `connection_status.last_successful_sync`. Without one, nothing
 *   is recorded; with one, that time is recorded.
 */
export async function finchConfirmsSync(
  finch: FinchSettings,
  token: string,
  connectionId: string,
  claim: SyncJobClaim,
  trace: Trace,
): Promise<SyncJob | undefined> {
  const unconfirmed = (why: string) => {
    trace.notes.push(`job webhook not confirmed by finch: ${why}`);
    return undefined;
  };
  if (claim.job_type === "data_sync_all") {
    const job = await getJob(finch, token, claim.job_id, trace);
    if (!job) return unconfirmed("no such job for this connection");
    if (job.type !== "data_sync_all") return unconfirmed("another job type");
    if (job.status !== "complete") return unconfirmed(`job status ${job.status}`);
    const at = isoTime(job.completedAt);
    return at ? { ...claim, completed_at: at } : unconfirmed("no completion time");
  }
  const facts = await introspect(finch, token, trace);
  if (facts.connection_id && facts.connection_id !== connectionId) return unconfirmed("another connection");
  const at = isoTime(facts.connection_status?.last_successful_sync);
  return at ? { ...claim, completed_at: at } : unconfirmed("no successful sync yet");
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** Finch's time as ISO-8601 UTC (so stored times compare as text), or undefined when it is not one. */
function isoTime(value: string | null | undefined): string | undefined {
  if (!value || !ISO_DATE_TIME.test(value)) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  const iso = new Date(ms).toISOString();
  // Years past 9999 print as "+010000-...": not a time to keep.
  return iso.startsWith("+") || iso.startsWith("-") ? undefined : iso;
}
