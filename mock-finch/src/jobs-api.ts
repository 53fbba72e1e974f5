// Jobs as Finch serves them: POST /jobs/automated, GET /jobs/automated/{job_id}, and the sandbox's
// POST /sandbox/jobs and PUT|GET /sandbox/jobs/configuration. All take the connection's token.
import { badRequest, bearerToken, FinchError, json, readJsonObject } from "./http";
import { COMPLETION_STATUSES, type CompletionStatus, type JobType, jobView, SANDBOX_JOB_TYPES } from "./jobs";
import type { MockState } from "./state";

function jobType(body: Record<string, unknown>): JobType {
  if (body.type === "w4_form_employee_sync") {
    throw badRequest("w4_form_employee_sync jobs are not available in this sandbox");
  }
  if (!(SANDBOX_JOB_TYPES as readonly unknown[]).includes(body.type)) {
    throw badRequest(`type must be one of ${SANDBOX_JOB_TYPES.join(", ")}`);
  }
  return body.type as JobType;
}

/**
 * Starts a forced refresh. Over the hourly limit the answer is 429 with the quota and
 * `retry_at` (Finch documents those fields on this endpoint's answer and no other refusal
 * body; the status is the mock's reading of "rate limit").
 */
async function start(state: MockState, request: Request, okStatus: 200 | 201): Promise<Response> {
  const { connection } = state.authenticate(bearerToken(request));
  const type = jobType(await readJsonObject(request));
  // Finch's sandbox: assisted connections create no job ("null for job_id and job_url").
  if (okStatus === 200 && connection.authenticationType === "assisted") {
    return json({ job_id: null, job_url: null, ...state.jobs.quota(connection.connectionId) });
  }
  const outcome = state.jobs.start(connection.connectionId, new URL(request.url).origin, type);
  if ("limited" in outcome) return json(outcome.limited, 429);
  const { job, quota } = outcome;
  return json({ job_id: job.jobId, job_url: job.jobUrl, ...quota }, okStatus);
}

export const startAutomatedJob = (state: MockState, request: Request) => start(state, request, 201);
export const startSandboxJob = (state: MockState, request: Request) => start(state, request, 200);

export function getAutomatedJob(state: MockState, request: Request, jobId: string): Response {
  const { connection } = state.authenticate(bearerToken(request));
  const job = state.jobs.jobs.get(jobId);
  if (!job || job.connectionId !== connection.connectionId) {
    throw new FinchError(404, "not_found_error", "No job with this id for this connection");
  }
  return json(jobView(job));
}

/** The mock keeps the configuration per connection (the token's); Finch's docs do not say. */
export async function configureSandboxJobs(state: MockState, request: Request): Promise<Response> {
  const { connection } = state.authenticate(bearerToken(request));
  const body = await readJsonObject(request);
  const type = jobType(body);
  if (!(COMPLETION_STATUSES as readonly unknown[]).includes(body.completion_status)) {
    throw badRequest(`completion_status must be one of ${COMPLETION_STATUSES.join(", ")}`);
  }
  const status = body.completion_status as CompletionStatus;
  state.jobs.configure(connection.connectionId, type, status);
  return json({ type, completion_status: status });
}

export function sandboxJobConfiguration(state: MockState, request: Request): Response {
  const { connection } = state.authenticate(bearerToken(request));
  return json(state.jobs.configuration(connection.connectionId));
}

/**
 * Ends the connection's running data_sync_all job (or records a scheduled one that just ran) as
 * the sandbox configuration says, else as the connection's status implies; a completed sync
 * moves last_successful_sync. What POST /_mock/connections/:id/jobs and MockFinch.completeJob do.
 */
export function completeDataSync(state: MockState, connectionId: string, origin: string) {
  const c = state.connections.get(connectionId);
  if (!c) throw new Error(`mock-finch: unknown connection ${connectionId}`);
  const fallback: CompletionStatus =
    c.status === "reauth" ? "reauth_error" : c.status === "error_permissions" ? "permissions_error" : "complete";
  const job = state.jobs.complete(connectionId, origin, fallback);
  if (job.status === "complete") c.lastSuccessfulSync = new Date(state.now()).toISOString();
  return job;
}
