// Finch's automated jobs (data_sync_all) as the mock keeps them: at most one running per
// connection, forced refreshes limited to ALLOWED_REFRESHES per fixed hour window, and the
// sandbox configuration that decides how later jobs end.
import { uuid } from "./http";

export const JOB_STATUSES = [
  "pending",
  "in_progress",
  "complete",
  "error",
  "reauth_error",
  "permissions_error",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** What PUT /sandbox/jobs/configuration may set. */
export const COMPLETION_STATUSES = ["complete", "reauth_error", "permissions_error", "error"] as const;
export type CompletionStatus = (typeof COMPLETION_STATUSES)[number];
export const SANDBOX_JOB_TYPES = ["data_sync_all"] as const;
export type JobType = (typeof SANDBOX_JOB_TYPES)[number];

/** Finch: "a fixed window rate limit of 1 forced refresh per hour per connection". */
export const ALLOWED_REFRESHES = 1;
export const REFRESH_WINDOW_MS = 3_600_000;

export interface MockJob {
  jobId: string;
  jobUrl: string;
  connectionId: string;
  type: JobType;
  status: JobStatus;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
}

export interface RefreshQuota {
  allowed_refreshes: number;
  remaining_refreshes: number;
  /** ISO 8601: when the window ends and a refresh is allowed again (only when none remain). */
  retry_at?: string;
}

export type StartOutcome = { job: MockJob; quota: RefreshQuota } | { limited: RefreshQuota & { retry_at: string } };

const FINISHED: ReadonlySet<JobStatus> = new Set(["complete", "error", "reauth_error", "permissions_error"]);

export class JobBook {
  readonly jobs = new Map<string, MockJob>();
  /** connection id -> the window's start and the refreshes it used. */
  readonly #windows = new Map<string, { startedAt: number; used: number }>();
  /** connection id -> job type -> how its later jobs end. */
  readonly #config = new Map<string, Map<JobType, CompletionStatus>>();

  constructor(private readonly now: () => number) {}

  running(connectionId: string, type: JobType = "data_sync_all"): MockJob | undefined {
    for (const job of this.jobs.values()) {
      if (job.connectionId === connectionId && job.type === type && !FINISHED.has(job.status)) return job;
    }
    return undefined;
  }

  quota(connectionId: string): RefreshQuota {
    const window = this.#window(connectionId);
    const remaining = Math.max(0, ALLOWED_REFRESHES - (window?.used ?? 0));
    const quota: RefreshQuota = { allowed_refreshes: ALLOWED_REFRESHES, remaining_refreshes: remaining };
    if (remaining === 0 && window) quota.retry_at = new Date(window.startedAt + REFRESH_WINDOW_MS).toISOString();
    return quota;
  }

  /**
   * A forced refresh: the running job when there is one (no refresh used), else a new pending
   * job when the window has a refresh left, else the refusal with retry_at.
   */
  start(connectionId: string, origin: string, type: JobType = "data_sync_all"): StartOutcome {
    const running = this.running(connectionId, type);
    if (running) return { job: running, quota: this.quota(connectionId) };
    const quota = this.quota(connectionId);
    if (quota.remaining_refreshes === 0) return { limited: { ...quota, retry_at: quota.retry_at as string } };
    const window = this.#window(connectionId) ?? { startedAt: this.now(), used: 0 };
    window.used++;
    this.#windows.set(connectionId, window);
    return { job: this.#create(connectionId, origin, type), quota: this.quota(connectionId) };
  }

  /**
   * Ends the connection's running job of `type` (or, with none running, records a scheduled one
   * that just ran) with the configured outcome, else `fallback`. Returns the finished job.
   */
  complete(connectionId: string, origin: string, fallback: CompletionStatus, type: JobType = "data_sync_all"): MockJob {
    const job = this.running(connectionId, type) ?? this.#create(connectionId, origin, type);
    job.startedAt ??= this.now();
    job.status = this.#config.get(connectionId)?.get(type) ?? fallback;
    job.completedAt = this.now();
    return job;
  }

  configure(connectionId: string, type: JobType, status: CompletionStatus): void {
    const byType = this.#config.get(connectionId) ?? new Map<JobType, CompletionStatus>();
    byType.set(type, status);
    this.#config.set(connectionId, byType);
  }

  configuration(connectionId: string): { type: JobType; completion_status: CompletionStatus }[] {
    return SANDBOX_JOB_TYPES.map((type) => ({
      type,
      completion_status: this.#config.get(connectionId)?.get(type) ?? "complete",
    }));
  }

  #window(connectionId: string): { startedAt: number; used: number } | undefined {
    const window = this.#windows.get(connectionId);
    return window && window.startedAt + REFRESH_WINDOW_MS > this.now() ? window : undefined;
  }

  #create(connectionId: string, origin: string, type: JobType): MockJob {
    const jobId = uuid();
    const job: MockJob = {
      jobId,
      jobUrl: `${origin}/jobs/automated/${jobId}`,
      connectionId,
      type,
      status: "pending",
      createdAt: this.now(),
      startedAt: null,
      completedAt: null,
    };
    this.jobs.set(jobId, job);
    return job;
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job as GET /jobs/automated/{job_id} shows it (the SDK's AutomatedAsyncJob). */
export function jobView(job: MockJob) {
  return {
    job_id: job.jobId,
    job_url: job.jobUrl,
    type: job.type,
    status: job.status,
    created_at: iso(job.createdAt),
    scheduled_at: null,
    started_at: iso(job.startedAt),
    completed_at: iso(job.completedAt),
    params: null,
  };
}
