// An in-memory, Finch-shaped mock of the Finch API and Connect UI. Web-standard code only:
// it runs as its own Worker (see index.ts) and is imported directly by the test suite.
import { adminRoute } from "./admin";
import { company, directory, disconnect, introspect } from "./api";
import { approve, authorize, createSession, deny, exchangeToken, reauthSession } from "./connect";
import { FinchError, json, uuid, withRequestId } from "./http";
import { FINCH_LIMITS, RateLimiter } from "./rate-limits";
import { type ConnectionStatus, type MockConnection, type MockSession, MockState, type MockToken } from "./state";
import { type SignWebhookOptions, type WebhookHeaders, webhookHeaders } from "./webhook";

export type { TokenResponse } from "./state";
export type { ConnectionStatus, MockConnection, MockSession, MockToken, SignWebhookOptions, WebhookHeaders };

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
  webhook?: { secret: string; targetUrl: string; fetch?: (request: Request) => Promise<Response> };
  /** Enforce Finch's per-application rate limits (true: Finch's table). Default off. */
  rateLimits?: boolean | Readonly<Record<string, number>>;
}

export interface WebhookInput {
  connection_id: string;
  /** Default "account.updated". */
  event_type?: string;
  /** Default { status: <current status>, authentication_method: { type: "credential" } }. */
  data?: unknown;
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
  /** Mint an authorization code as if the employer approved the session (single use per session). */
  approve(sessionId: string): string;
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
  const state = new MockState(options.now ?? Date.now, options.codeTtlMs ?? 600_000);
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
      entity_id: c.entityIds[0],
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
      const answer = await adminRoute(request, path, { state, webhook: options.webhook, webhookRequest });
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
    const routes: Record<string, Record<string, () => Response | Promise<Response>>> = {
      "/connect/sessions": { POST: () => createSession(state, options, request) },
      "/connect/sessions/reauthenticate": { POST: () => reauthSession(state, options, request) },
      "/authorize": { GET: () => authorize(state, url) },
      "/authorize/approve": { GET: () => approve(state, options, url) },
      "/authorize/deny": { GET: () => deny(state, options, url) },
      "/auth/token": { POST: () => exchangeToken(state, options, request) },
      "/introspect": { GET: () => introspect(state, options.clientId, request) },
      "/disconnect": { POST: () => disconnect(state, request) },
      "/employer/company": { GET: () => company(state, request) },
      "/employer/directory": { GET: () => directory(state, request, url) },
    };
    const byMethod = routes[path];
    if (!byMethod) throw new FinchError(404, "not_found_error", `No route for ${m} ${path}`);
    const handler = byMethod[m];
    if (!handler) {
      const err = new FinchError(405, "method_not_allowed", `${m} is not allowed on ${path}`);
      return json(err.body(), 405, { allow: Object.keys(byMethod).join(", ") });
    }
    return handler();
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
    approve: (sessionId) => state.mintCode(sessionId),
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
