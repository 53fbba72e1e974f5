// An in-memory, Finch-shaped mock of the Finch API and Connect UI. Web-standard code only:
// it runs as its own Worker (see index.ts) and is imported directly by the test suite.
import { adminRoute } from "./admin";
import { FinchError, json, uuid, withRequestId } from "./http";
import { completeDataSync } from "./jobs-api";
import { FINCH_LIMITS, RateLimiter } from "./rate-limits";
import { finchRoute } from "./routes";
import { type ConnectionStatus, type MockConnection, type MockSession, MockState, type MockToken } from "./state";
import {
  type SignWebhookOptions,
  type WebhookHeaders,
  type WebhookInput,
  type WebhookTarget,
  webhookHeaders,
} from "./webhook";

export type { MockJob } from "./jobs";
export type { TokenResponse } from "./state";
export type {
  ConnectionStatus,
  MockConnection,
  MockSession,
  MockToken,
  SignWebhookOptions,
  WebhookHeaders,
  WebhookInput,
};

export interface MockFinchOptions {
  clientId: string;
  clientSecret: string;
  /** Origin used to build connect_url. Default: the origin of the incoming request. */
  connectOrigin?: string;
  /** Where Approve/Deny send the browser when the session has no redirect_uri (embedded flow). */
  embeddedCallbackUrl?: string;
  /** Lifetime of an authorization code. Default 600_000 (10 minutes). */
  codeTtlMs?: number;
  /** Clock in epoch milliseconds. Default Date.now. */
  now?: () => number;
  /** secret: base64 (Finch style); targetUrl: where /_mock/webhooks/send delivers. */
  webhook?: WebhookTarget;
  /** Enforce Finch's per-application rate limits (true: Finch's table). Default off. */
  rateLimits?: boolean | Readonly<Record<string, number>>;
}

export interface InjectedFailure {
  status: number;
  name: string;
  finch_code?: string;
  message?: string;
  headers?: Record<string, string>;
}

export interface RequestLogEntry {
  requestId: string;
  method: string;
  path: string;
  /** Value of the Finch-API-Version header, or null when absent. */
  finchApiVersion: string | null;
  status: number;
}

export interface MockFinch {
  fetch(request: Request): Promise<Response>;
  /**
   * Mint an authorization code as if the employer approved the session (single use per session),
   * optionally picking the provider (providers.ts; `finch_multi_entity` gives two entities).
   */
  approve(sessionId: string, opts?: { providerId?: string }): string;
  /** Move the mock's clock forward (session and code expiry, the hourly refresh window). */
  advanceClock(ms: number): void;
  /**
   * End the connection's running data_sync_all job (or record a scheduled one) as the sandbox
   * configuration says: what POST /_mock/connections/:id/jobs does before it sends the webhook.
   */
  completeJob(connectionId: string, origin?: string): { jobId: string; jobUrl: string; status: string };
  setConnectionStatus(connectionId: string, status: ConnectionStatus, message?: string): void;
  /** Create a connection directly (no Connect flow); returns its token and id. */
  seedConnection(input: { customerId: string; customerName: string; customerEmail?: string; products?: string[] }): {
    accessToken: string;
    connectionId: string;
  };
  /** Enforce per-product limits in a window (Finch's: 60 s), as Finch does; undefined turns it off. */
  setRateLimits(limits: Readonly<Record<string, number>> | undefined, windowMs?: number): void;
  /** The next `times` requests matching method/path get this Finch-shaped error instead. */
  failNext(match: { method?: string; path: string }, failure: InjectedFailure, times?: number): void;
  signWebhook(body: string, opts?: SignWebhookOptions): Promise<WebhookHeaders>;
  /** A signed webhook Request aimed at options.webhook.targetUrl (not sent). */
  webhookRequest(input: WebhookInput, opts?: SignWebhookOptions): Promise<Request>;
  readonly sessions: ReadonlyMap<string, Readonly<MockSession>>;
  readonly connections: ReadonlyMap<string, Readonly<MockConnection>>;
  /** access_token -> token record. */
  readonly tokens: ReadonlyMap<string, Readonly<MockToken>>;
  readonly requests: ReadonlyArray<Readonly<RequestLogEntry>>;
}

interface Failure extends InjectedFailure {
  method: string | undefined;
  path: string;
  remaining: number;
}

export function createMockFinch(options: MockFinchOptions): MockFinch {
  if (!options.clientId || !options.clientSecret) throw new Error("mock-finch: clientId and clientSecret are required");
  const clock = options.now ?? Date.now;
  let offsetMs = 0;
  const state = new MockState(() => clock() + offsetMs, options.codeTtlMs ?? 600_000);
  const advanceClock = (ms: number) => {
    if (!(ms >= 0)) throw new Error("mock-finch: the clock only moves forward");
    offsetMs += ms;
  };
  const failures: Failure[] = [];
  const requests: RequestLogEntry[] = [];
  const limiter = new RateLimiter(state.now);
  if (options.rateLimits) limiter.set(options.rateLimits === true ? FINCH_LIMITS : options.rateLimits);

  async function signWebhook(body: string, opts: SignWebhookOptions = {}): Promise<WebhookHeaders> {
    const secret = opts.secret ?? options.webhook?.secret;
    if (secret === undefined) throw new Error("mock-finch: no webhook secret configured");
    const timestamp = opts.timestamp ?? Math.floor(state.now() / 1000);
    return webhookHeaders(
      body,
      opts.eventId ?? state.newEventId(),
      timestamp,
      Array.isArray(secret) ? secret : [secret],
    );
  }

  async function webhookRequest(input: WebhookInput, opts: SignWebhookOptions = {}): Promise<Request> {
    if (!options.webhook) throw new Error("mock-finch: webhook is not configured");
    const c = state.connections.get(input.connection_id);
    if (!c) throw new Error(`mock-finch: unknown connection ${input.connection_id}`);
    const body = JSON.stringify({
      connection_id: c.connectionId,
      company_id: c.companyId,
      account_id: c.accountId,
      entity_id: c.entities[0]?.id,
      event_type: input.event_type ?? "account.updated",
      data: input.data ?? { status: c.status, authentication_method: { type: "credential" } },
    });
    const headers = await signWebhook(body, opts);
    return new Request(options.webhook.targetUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "mock-finch-webhooks", ...headers },
      body,
    });
  }

  async function route(request: Request, url: URL): Promise<Response> {
    const { pathname: path } = url;
    const m = request.method;
    if (path.startsWith("/_mock/")) {
      const answer = await adminRoute(request, path, { state, webhook: options.webhook, webhookRequest, advanceClock });
      if (answer) return answer;
    }
    const failure = failures.find((f) => f.path === path && (f.method === undefined || f.method === m));
    if (failure) {
      if (--failure.remaining <= 0) failures.splice(failures.indexOf(failure), 1);
      const err = new FinchError(
        failure.status,
        failure.name,
        failure.message ?? "Injected failure",
        failure.finch_code,
      );
      return json(err.body(), failure.status, failure.headers);
    }
    if (path.startsWith("/employer/")) limiter.check(path);
    return finchRoute(request, url, state, options);
  }

  async function handle(request: Request): Promise<Response> {
    const requestId = uuid();
    const url = new URL(request.url);
    let response: Response;
    try {
      response = await route(request, url);
    } catch (err) {
      const e = err instanceof FinchError ? err : new FinchError(500, "server_error", `Mock failure: ${String(err)}`);
      response = json(e.body(), e.status, e.headers);
    }
    requests.push({
      requestId,
      method: request.method,
      path: url.pathname,
      finchApiVersion: request.headers.get("finch-api-version"),
      status: response.status,
    });
    if (requests.length > 1000) requests.shift();
    return withRequestId(response, requestId);
  }

  return {
    fetch: handle,
    approve: (sessionId, opts) => state.mintCode(sessionId, opts?.providerId),
    advanceClock,
    completeJob(connectionId, origin = "https://api.tryfinch.com") {
      const job = completeDataSync(state, connectionId, origin);
      return { jobId: job.jobId, jobUrl: job.jobUrl, status: job.status };
    },
    setConnectionStatus: (id, status, message) => void state.setStatus(id, status, message),
    setRateLimits: (limits, windowMs) => limiter.set(limits, windowMs),
    seedConnection(input) {
      const c = state.createConnection({
        customerId: input.customerId,
        customerName: input.customerName,
        customerEmail: input.customerEmail ?? null,
        products: input.products ?? ["company", "directory"],
      });
      return { accessToken: state.rotateToken(c), connectionId: c.connectionId };
    },
    failNext(match, failure, times = 1) {
      failures.push({ ...failure, method: match.method?.toUpperCase(), path: match.path, remaining: times });
    },
    signWebhook,
    webhookRequest,
    get sessions() {
      return state.sessions;
    },
    get connections() {
      return state.connections;
    },
    get tokens() {
      return state.tokens;
    },
    get requests() {
      return requests;
    },
  };
}
