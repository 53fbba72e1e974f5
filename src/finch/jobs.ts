import * as v from "valibot";
import { AppError } from "../errors";
import type { Trace } from "../lib/trace";
import type { FinchSettings } from "./http";
import { callFinch, rateLimited } from "./http";
import { finchOperation, parse, rejected } from "./reply";
import { JobIdSchema, JobSchema, RefreshLimitSchema, RefreshSchema } from "./schemas";

/**
 * Finch's automated jobs: a forced refresh of all of a connection's data (data_sync_all, a
 * plan add-on) and a job's status. At most one refresh runs per connection (a second start
 * answers the running job) and Finch allows one forced refresh per hour per connection.
 */
export interface DataSync {
  jobId: string;
  jobUrl: string | null;
  allowedRefreshes: number;
  remainingRefreshes: number;
  /** When the next forced refresh is allowed (ISO 8601), when Finch says. */
  retryAt: string | null;
}

export interface FinchJob {
  jobId: string;
  type: string;
  status: v.InferOutput<typeof JobSchema>["status"];
  createdAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
}

/** Finch's window is an hour: a longer wait than that would be a misreading. */
export const MAX_SYNC_RETRY_AFTER_S = 3600;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Seconds until Finch's retry_at, rounded up, within 0..3600; an unreadable one waits the whole window. */
export function syncRetryAfterS(retryAt: string, nowMs: number): number {
  const at = ISO_8601.test(retryAt) ? Date.parse(retryAt) : Number.NaN;
  if (Number.isNaN(at)) return MAX_SYNC_RETRY_AFTER_S;
  return Math.min(MAX_SYNC_RETRY_AFTER_S, Math.max(0, Math.ceil((at - nowMs) / 1000)));
}

const limited = (retryAt: string, detail: string) =>
  new AppError("finch_sync_limited", detail, {
    headers: { "Retry-After": String(syncRetryAfterS(retryAt, Date.now())) },
  });

/**
 * POST /jobs/automated { type: "data_sync_all" }: the started (or running) job. Not a
 * finchOperation: its 429 may be Finch's hourly refresh limit (a body of its own), and a success
 * without a job is read further, its status named in the error.
 */
export async function startDataSync(settings: FinchSettings, token: string, trace: Trace): Promise<DataSync> {
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/jobs/automated",
      auth: { kind: "bearer", token },
      // A repeat is harmless: Finch answers the running job's id.
      idempotent: true,
      own429: true,
      json: { type: "data_sync_all" },
    },
    trace,
  );
  if (reply.status === 429) {
    // The hourly limit answers with the quota and retry_at; any other 429 is Finch's rate limit.
    const refusal = v.safeParse(RefreshLimitSchema, reply.body);
    if (refusal.success) throw limited(refusal.output.retry_at, "data sync: 429 refresh limit");
    throw rateLimited(reply.headers, "/jobs/automated");
  }
  if (reply.status !== 200 && reply.status !== 201) throw rejected(reply, "data sync");
  const r = parse(RefreshSchema, reply, "data sync");
  if (!r.job_id) {
    // No job started: only a refusal with retry_at makes sense of that.
    if (r.retry_at) throw limited(r.retry_at, `data sync: ${reply.status} without a job, retry_at set`);
    throw new AppError("finch_bad_response", "data sync: field job_id missing");
  }
  return {
    jobId: r.job_id,
    jobUrl: r.job_url ?? null,
    allowedRefreshes: r.allowed_refreshes,
    remainingRefreshes: r.remaining_refreshes,
    retryAt: r.retry_at ?? null,
  };
}

/**
 * GET /jobs/automated/{job_id} with the connection's token: the job, or null when Finch does not
 * know it for this connection (404), or the id cannot be one of Finch's (checked before any call).
 */
export async function getJob(
  settings: FinchSettings,
  token: string,
  jobId: string,
  trace: Trace,
): Promise<FinchJob | null> {
  if (!v.is(JobIdSchema, jobId)) {
    trace.notes.push("job id of the wrong shape");
    return null;
  }
  const j = await finchOperation(
    settings,
    { method: "GET", path: `/jobs/automated/${jobId}`, auth: { kind: "bearer", token }, idempotent: true },
    { what: "job", schema: JobSchema, answer: (r) => (r.status === 404 ? null : undefined) },
    trace,
  );
  if (j === null) return null;
  if (j.job_id !== jobId) throw new AppError("finch_bad_response", "job: another job_id than asked");
  return {
    jobId: j.job_id,
    type: j.type,
    status: j.status,
    createdAt: j.created_at ?? null,
    startedAt: j.started_at ?? null,
    completedAt: j.completed_at ?? null,
  };
}
