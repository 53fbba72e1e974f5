// Connect half of the mock: sessions, the authorize page, approve/deny, and the code exchange.
import {
  badRequest,
  basicCredentials,
  FinchError,
  html,
  json,
  readJsonObject,
  redirect,
  safeEqual,
  uuid,
} from "./http";
import { authorizePage, codePage, expiredPage, messagePage } from "./pages";
import { DEFAULT_PROVIDER, isProvider, MULTI_ENTITY_PROVIDER, PROVIDERS } from "./providers";
import type { MockSession, MockState } from "./state";
import { parseNewSession, parseReauthSession } from "./validate";

export interface ConnectConfig {
  clientId: string;
  clientSecret: string;
  connectOrigin?: string;
  embeddedCallbackUrl?: string;
}

export function requireClient(config: ConnectConfig, id: unknown, secret: unknown): void {
  if (
    typeof id !== "string" ||
    typeof secret !== "string" ||
    !safeEqual(id, config.clientId) ||
    !safeEqual(secret, config.clientSecret)
  ) {
    throw new FinchError(401, "invalid_client_error", "Invalid client_id or client_secret");
  }
}

function sessionAnswer(config: ConnectConfig, request: Request, session: MockSession): Response {
  const origin = config.connectOrigin ?? new URL(request.url).origin;
  const connectUrl = `${origin.replace(/\/+$/, "")}/authorize?session=${encodeURIComponent(session.sessionId)}`;
  return json({ session_id: session.sessionId, connect_url: connectUrl });
}

export async function createSession(state: MockState, config: ConnectConfig, request: Request): Promise<Response> {
  const creds = basicCredentials(request);
  requireClient(config, creds?.id, creds?.secret);
  const input = parseNewSession(await readJsonObject(request));
  const now = state.now();
  const session: MockSession = {
    sessionId: uuid(),
    customerId: input.customerId,
    customerName: input.customerName,
    customerEmail: input.customerEmail,
    products: input.products,
    redirectUri: input.redirectUri,
    sandbox: input.sandbox,
    manual: input.manual,
    integration: input.integration,
    minutesToExpire: input.minutesToExpire,
    connectionId: null,
    createdAt: now,
    expiresAt: now + input.minutesToExpire * 60_000,
    completed: false,
    providerId: null,
  };
  state.sessions.set(session.sessionId, session);
  return sessionAnswer(config, request, session);
}

export async function reauthSession(state: MockState, config: ConnectConfig, request: Request): Promise<Response> {
  const creds = basicCredentials(request);
  requireClient(config, creds?.id, creds?.secret);
  const input = parseReauthSession(await readJsonObject(request));
  const connection = state.connections.get(input.connectionId);
  if (!connection || connection.disconnected) throw badRequest("connection_id does not match a live connection");
  const now = state.now();
  const session: MockSession = {
    sessionId: uuid(),
    customerId: connection.customerId ?? "",
    customerName: connection.customerName ?? "",
    customerEmail: connection.customerEmail,
    products: input.products ?? [...connection.products],
    redirectUri: input.redirectUri,
    sandbox: null,
    manual: connection.manual,
    integration: null,
    minutesToExpire: input.minutesToExpire,
    connectionId: connection.connectionId,
    createdAt: now,
    expiresAt: now + input.minutesToExpire * 60_000,
    completed: false,
    providerId: connection.providerId,
  };
  state.sessions.set(session.sessionId, session);
  return sessionAnswer(config, request, session);
}

function flowParams(url: URL): { sessionId: string | null; state: string | null } {
  return { sessionId: url.searchParams.get("session"), state: url.searchParams.get("state") };
}

function goneSession(): Response {
  return html(messagePage("Session not found", "This Connect session is unknown or already completed."), 404);
}

function actionHref(path: string, sessionId: string, state: string | null, provider?: string): string {
  const q = new URLSearchParams({ session: sessionId });
  if (state !== null) q.set("state", state);
  if (provider !== undefined) q.set("provider", provider);
  return `${path}?${q}`;
}

function callbackTarget(config: ConnectConfig, session: MockSession): string | null {
  return session.redirectUri ?? config.embeddedCallbackUrl ?? null;
}

function withParams(target: string, params: Record<string, string | null>): string {
  const url = new URL(target);
  for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * Where an expired session sends the browser: back to the app with `error=session_expired` and
 * no code, as a denial does (Finch documents no failure redirect; the Worker answers any `error`
 * with connect_cancelled). Null for an embedded session without a callback URL.
 */
function expiredTarget(config: ConnectConfig, session: MockSession, oauthState: string | null): string | null {
  const target = callbackTarget(config, session);
  if (target === null) return null;
  return withParams(target, {
    error: "session_expired",
    error_description: "The Connect session expired",
    state: oauthState,
  });
}

/** The session `sessionId` names when it is live; else the answer for one that is not. */
function liveOr(
  state: MockState,
  config: ConnectConfig,
  url: URL,
  onExpired: "page" | "redirect",
): MockSession | Response {
  const { sessionId, state: oauthState } = flowParams(url);
  const session = sessionId ? state.sessions.get(sessionId) : undefined;
  if (!session || !sessionId) return goneSession();
  const standing = state.standing(sessionId);
  if (standing === "live") return session;
  if (standing !== "expired") return goneSession();
  const back = expiredTarget(config, session, oauthState);
  if (onExpired === "redirect" && back !== null) return redirect(back);
  return html(expiredPage(new Date(session.expiresAt).toISOString(), back), 410);
}

export function authorize(state: MockState, config: ConnectConfig, url: URL): Response {
  const { sessionId, state: oauthState } = flowParams(url);
  if (!sessionId) {
    return html(
      messagePage("Missing session", "Open this page through a connect_url from POST /connect/sessions."),
      400,
    );
  }
  const session = liveOr(state, config, url, "page");
  if (session instanceof Response) return session;
  const reauthentication = session.connectionId !== null;
  const provider = session.providerId ?? session.integration?.provider ?? DEFAULT_PROVIDER;
  // A new connection may also be made with the multi-entity provider, unless the session fixed one.
  const alternative = !reauthentication && !session.integration && provider !== MULTI_ENTITY_PROVIDER;
  return html(
    authorizePage({
      customerName: session.customerName,
      customerId: session.customerId,
      products: session.products,
      reauthentication,
      providerName: PROVIDERS[provider]?.name ?? provider,
      approveHref: actionHref("/authorize/approve", sessionId, oauthState),
      denyHref: actionHref("/authorize/deny", sessionId, oauthState),
      multiEntityHref: alternative
        ? actionHref("/authorize/approve", sessionId, oauthState, MULTI_ENTITY_PROVIDER)
        : undefined,
    }),
  );
}

export function approve(state: MockState, config: ConnectConfig, url: URL): Response {
  const session = liveOr(state, config, url, "redirect");
  if (session instanceof Response) return session;
  const oauthState = flowParams(url).state;
  // A re-authentication keeps the connection's provider; a new one may pick any the mock knows.
  const picked = session.connectionId === null ? (url.searchParams.get("provider") ?? undefined) : undefined;
  if (picked !== undefined && !isProvider(picked)) {
    return html(messagePage("Unknown provider", "Pick a provider from the Connect page."), 400);
  }
  const code = state.mintCode(session.sessionId, picked);
  const target = callbackTarget(config, session);
  if (target === null) return html(codePage(code, oauthState));
  return redirect(withParams(target, { code, state: oauthState }));
}

export function deny(state: MockState, config: ConnectConfig, url: URL): Response {
  const session = liveOr(state, config, url, "redirect");
  if (session instanceof Response) return session;
  const target = callbackTarget(config, session);
  if (target === null) return html(messagePage("Access denied", "The employer did not connect."));
  return redirect(
    withParams(target, {
      error: "access_denied",
      error_description: "The employer denied access",
      state: flowParams(url).state,
    }),
  );
}

export async function exchangeToken(state: MockState, config: ConnectConfig, request: Request): Promise<Response> {
  const body = await readJsonObject(request);
  requireClient(config, body.client_id, body.client_secret);
  if (typeof body.code !== "string" || body.code.length === 0) throw badRequest("code is required");
  const requested = body.redirect_uri;
  if (requested !== undefined && requested !== null && typeof requested !== "string") {
    throw badRequest("redirect_uri must be a string");
  }
  const session = state.takeCode(body.code, (s) => {
    if (s.redirectUri === null && requested != null) {
      throw badRequest("redirect_uri must be omitted for a Connect session started without one (embedded flow)");
    }
    if (s.redirectUri !== null && requested !== s.redirectUri) {
      throw new FinchError(400, "invalid_grant_error", "redirect_uri does not match the one the Connect session used");
    }
  });
  return json(state.issueToken(session));
}
