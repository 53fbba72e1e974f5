// Mock-only helpers under /_mock/: flip a connection's status, send a signed webhook, health.
import { FinchError, json, readJsonObject } from "./http";
import type { MockFinchOptions, WebhookInput } from "./mock";
import { CONNECTION_STATUSES, type ConnectionStatus, type MockState } from "./state";

export interface AdminDeps {
  state: MockState;
  webhook: MockFinchOptions["webhook"];
  webhookRequest(input: WebhookInput): Promise<Request>;
}

/** Routes under /_mock/ (never a Finch path); null when nothing matches. */
export async function adminRoute(request: Request, path: string, deps: AdminDeps): Promise<Response | null> {
  const { state, webhook } = deps;
  const statusMatch = /^\/_mock\/connections\/([^/]+)\/status$/.exec(path);
  if (statusMatch && request.method === "POST") {
    const id = decodeURIComponent(statusMatch[1] as string);
    const body = await readJsonObject(request);
    if (!state.connections.has(id)) throw new FinchError(404, "not_found_error", `Unknown connection ${id}`);
    if (typeof body.status !== "string" || !(CONNECTION_STATUSES as readonly string[]).includes(body.status)) {
      throw new FinchError(400, "invalid_request", `status must be one of ${CONNECTION_STATUSES.join(", ")}`);
    }
    const message = typeof body.message === "string" ? body.message : undefined;
    const c = state.setStatus(id, body.status as ConnectionStatus, message);
    return json({ connection_id: c.connectionId, status: c.status });
  }
  if (path === "/_mock/webhooks/send" && request.method === "POST") {
    if (!webhook)
      throw new FinchError(
        400,
        "invalid_request",
        "Webhooks are not configured (MOCK_WEBHOOK_SECRET, MOCK_WEBHOOK_URL)",
      );
    const body = await readJsonObject(request);
    if (typeof body.connection_id !== "string")
      throw new FinchError(400, "invalid_request", "connection_id is required");
    if (!state.connections.has(body.connection_id)) {
      throw new FinchError(404, "not_found_error", `Unknown connection ${body.connection_id}`);
    }
    const outgoing = await deps.webhookRequest({
      connection_id: body.connection_id,
      event_type: typeof body.event_type === "string" ? body.event_type : undefined,
      data: body.data,
    });
    const eventId = outgoing.headers.get("finch-event-id");
    try {
      const send = webhook.fetch;
      const answer = await (send ? send(outgoing) : fetch(outgoing));
      const text = (await answer.text()).slice(0, 2000);
      return json({ event_id: eventId, target: webhook.targetUrl, status: answer.status, body: text });
    } catch (err) {
      throw new FinchError(502, "webhook_delivery_failed", `Could not reach ${webhook.targetUrl}: ${String(err)}`);
    }
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
