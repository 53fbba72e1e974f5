// Mock-only helpers under /_mock/: flip a connection's status, send a signed webhook or a job
// event, show a Connect session as stored, move the mock's clock, health.
import { FinchError, json, readJsonObject, uuid } from "./http";
import { completeDataSync } from "./jobs-api";
import type { MockSession } from "./model";
import { CONNECTION_STATUSES, type ConnectionStatus, type MockState } from "./state";
import type { WebhookInput, WebhookTarget } from "./webhook";

export interface AdminDeps {
  state: MockState;
  webhook: WebhookTarget | undefined;
  webhookRequest(input: WebhookInput): Promise<Request>;
  advanceClock(ms: number): void;
}

/**
 * The sync jobs Finch reports by webhook, with the event type it uses for each (as in
 * @tryfinch/finch-api's webhook types): initial syncs "succeed", data_sync_all "completes".
 */
export const JOB_EVENT_TYPES = {
  initial_data_sync_org: "job.initial_data_sync_org.succeeded",
  initial_data_sync_payroll: "job.initial_data_sync_payroll.succeeded",
  data_sync_all: "job.data_sync_all.completed",
} as const;

/** The clock moves forward only, and by at most a year a call. */
const MAX_ADVANCE_S = 366 * 86_400;

function requireWebhook(deps: AdminDeps): WebhookTarget {
  if (!deps.webhook) {
    throw new FinchError(400, "invalid_request", "Webhooks are not configured (MOCK_WEBHOOK_SECRET, MOCK_WEBHOOK_URL)");
  }
  return deps.webhook;
}

/** Sends one signed webhook to the configured target; the answer's status and first 2000 characters. */
async function send(deps: AdminDeps, input: WebhookInput): Promise<Record<string, unknown>> {
  const webhook = requireWebhook(deps);
  const outgoing = await deps.webhookRequest(input);
  const eventId = outgoing.headers.get("finch-event-id");
  try {
    const answer = await (webhook.fetch ? webhook.fetch(outgoing) : fetch(outgoing));
    const text = (await answer.text()).slice(0, 2000);
    return {
      event_id: eventId,
      event_type: input.event_type,
      target: webhook.targetUrl,
      status: answer.status,
      body: text,
    };
  } catch (err) {
    throw new FinchError(502, "webhook_delivery_failed", `Could not reach ${webhook.targetUrl}: ${String(err)}`);
  }
}

function knownConnection(state: MockState, id: unknown): string {
  if (typeof id !== "string") throw new FinchError(400, "invalid_request", "connection_id is required");
  if (!state.connections.has(id)) throw new FinchError(404, "not_found_error", `Unknown connection ${id}`);
  return id;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A session as the mock stored it: what the app sent, and when it expires. */
export function sessionView(session: MockSession, now: number) {
  return {
    session_id: session.sessionId,
    customer_id: session.customerId,
    customer_name: session.customerName,
    customer_email: session.customerEmail,
    products: session.products,
    redirect_uri: session.redirectUri,
    sandbox: session.sandbox,
    manual: session.manual,
    integration: session.integration,
    connection_id: session.connectionId,
    minutes_to_expire: session.minutesToExpire,
    created_at: iso(session.createdAt),
    expires_at: iso(session.expiresAt),
    expired: session.expiresAt <= now,
    completed: session.completed,
    provider_id: session.providerId,
  };
}

async function jobEvent(deps: AdminDeps, request: Request, id: string): Promise<Response> {
  const body = await readJsonObject(request);
  const jobType = body.job_type as keyof typeof JOB_EVENT_TYPES;
  if (typeof jobType !== "string" || !Object.hasOwn(JOB_EVENT_TYPES, jobType)) {
    throw new FinchError(400, "invalid_request", `job_type must be one of ${Object.keys(JOB_EVENT_TYPES).join(", ")}`);
  }
  requireWebhook(deps);
  const origin = new URL(request.url).origin;
  let job: { job_id: string; status: string };
  let data: { job_id: string; job_url: string };
  if (jobType === "data_sync_all") {
    // Ends the running refresh (POST /jobs/automated), as Finch does before it sends the event.
    const done = completeDataSync(deps.state, id, origin);
    job = { job_id: done.jobId, status: done.status };
    data = { job_id: done.jobId, job_url: done.jobUrl };
  } else {
    const c = deps.state.connections.get(id);
    if (c) c.lastSuccessfulSync = iso(deps.state.now());
    const jobId = uuid();
    job = { job_id: jobId, status: "complete" };
    data = { job_id: jobId, job_url: `${origin}/jobs/automated/${jobId}` };
  }
  const sent = await send(deps, { connection_id: id, event_type: JOB_EVENT_TYPES[jobType], data });
  return json({ ...sent, job });
}

/** Routes under /_mock/ (never a Finch path); null when nothing matches. */
export async function adminRoute(request: Request, path: string, deps: AdminDeps): Promise<Response | null> {
  const { state } = deps;
  const statusMatch = /^\/_mock\/connections\/([^/]+)\/status$/.exec(path);
  if (statusMatch && request.method === "POST") {
    const id = knownConnection(state, decodeURIComponent(statusMatch[1] as string));
    const body = await readJsonObject(request);
    if (typeof body.status !== "string" || !(CONNECTION_STATUSES as readonly string[]).includes(body.status)) {
      throw new FinchError(400, "invalid_request", `status must be one of ${CONNECTION_STATUSES.join(", ")}`);
    }
    const message = typeof body.message === "string" ? body.message : undefined;
    const c = state.setStatus(id, body.status as ConnectionStatus, message);
    // `"webhook": true` also tells the app, as Finch does with account.updated.
    const webhook = body.webhook === true ? await send(deps, { connection_id: id }) : undefined;
    return json({ connection_id: c.connectionId, status: c.status, ...(webhook ? { webhook } : {}) });
  }
  const jobMatch = /^\/_mock\/connections\/([^/]+)\/jobs$/.exec(path);
  if (jobMatch && request.method === "POST") {
    return jobEvent(deps, request, knownConnection(state, decodeURIComponent(jobMatch[1] as string)));
  }
  const sessionMatch = /^\/_mock\/sessions\/([^/]+)$/.exec(path);
  if (sessionMatch && request.method === "GET") {
    const session = state.sessions.get(decodeURIComponent(sessionMatch[1] as string));
    if (!session) throw new FinchError(404, "not_found_error", "Unknown session");
    return json(sessionView(session, state.now()));
  }
  if (path === "/_mock/clock" && request.method === "POST") {
    const seconds = (await readJsonObject(request)).advance_seconds;
    if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_ADVANCE_S) {
      throw new FinchError(400, "invalid_request", `advance_seconds must be an integer from 0 to ${MAX_ADVANCE_S}`);
    }
    deps.advanceClock(seconds * 1000);
    return json({ now: iso(state.now()) });
  }
  if (path === "/_mock/webhooks/send" && request.method === "POST") {
    const body = await readJsonObject(request);
    const id = knownConnection(state, body.connection_id);
    const event_type = typeof body.event_type === "string" ? body.event_type : undefined;
    const answer = await send(deps, { connection_id: id, event_type, data: body.data });
    return json({ ...answer, event_type: undefined });
  }
  // A connection made outside Connect (as if an app had connected it long ago): its token, for
  // trying `npm run import` against the mock.
  if (path === "/_mock/connections" && request.method === "POST") {
    const body = await readJsonObject(request);
    if (typeof body.customer_id !== "string" || typeof body.customer_name !== "string") {
      throw new FinchError(400, "invalid_request", "customer_id and customer_name are required");
    }
    const c = state.createConnection({
      customerId: body.customer_id,
      customerName: body.customer_name,
      customerEmail: typeof body.customer_email === "string" ? body.customer_email : null,
      products: ["company", "directory"],
    });
    return json({ connection_id: c.connectionId, access_token: state.rotateToken(c) });
  }
  if (path === "/_mock/health") return json({ ok: true });
  return null;
}
