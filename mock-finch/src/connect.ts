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
import { authorizePage, codePage, messagePage } from "./pages";
import type { MockSession, MockState } from "./state";
import { parseNewSession, parseReauthSession } from "./validate";

export interface ConnectConfig {
  clientId: string;
  clientSecret: string;
  connectOrigin?: string;
  embeddedCallbackUrl?: string;
}

function requireClient(config: ConnectConfig, id: unknown, secret: unknown): void {
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
    connectionId: null,
    createdAt: now,
    expiresAt: now + input.minutesToExpire * 60_000,
    completed: false,
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
    connectionId: connection.connectionId,
    createdAt: now,
    expiresAt: now + input.minutesToExpire * 60_000,
    completed: false,
  };
  state.sessions.set(session.sessionId, session);
  return sessionAnswer(config, request, session);
}

function flowParams(url: URL): { sessionId: string | null; state: string | null } {
  return { sessionId: url.searchParams.get("session"), state: url.searchParams.get("state") };
}

function goneSession(): Response {
  return html(messagePage("Session not found", "This Connect session is unknown, expired or already completed."), 404);
}

function actionHref(path: string, sessionId: string, state: string | null): string {
  const q = new URLSearchParams({ session: sessionId });
  if (state !== null) q.set("state", state);
  return `${path}?${q}`;
}

export function authorize(state: MockState, url: URL): Response {
  const { sessionId, state: oauthState } = flowParams(url);
  if (!sessionId) {
    return html(
      messagePage("Missing session", "Open this page through a connect_url from POST /connect/sessions."),
      400,
    );
  }
  const session = state.liveSession(sessionId);
  if (!session) return goneSession();
  return html(
    authorizePage({
      customerName: session.customerName,
      customerId: session.customerId,
      products: session.products,
      reauthentication: session.connectionId !== null,
      approveHref: actionHref("/authorize/approve", sessionId, oauthState),
      denyHref: actionHref("/authorize/deny", sessionId, oauthState),
    }),
  );
}

function callbackTarget(config: ConnectConfig, session: MockSession): string | null {
  return session.redirectUri ?? config.embeddedCallbackUrl ?? null;
}

function withParams(target: string, params: Record<string, string | null>): string {
  const url = new URL(target);
  for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
  return url.toString();
}

export function approve(state: MockState, config: ConnectConfig, url: URL): Response {
  const { sessionId, state: oauthState } = flowParams(url);
  const session = sessionId ? state.liveSession(sessionId) : null;
  if (!session) return goneSession();
  const code = state.mintCode(session.sessionId);
  const target = callbackTarget(config, session);
  if (target === null) return html(codePage(code, oauthState));
  return redirect(withParams(target, { code, state: oauthState }));
}

export function deny(state: MockState, config: ConnectConfig, url: URL): Response {
  const { sessionId, state: oauthState } = flowParams(url);
  const session = sessionId ? state.liveSession(sessionId) : null;
  if (!session) return goneSession();
  const target = callbackTarget(config, session);
  if (target === null) return html(messagePage("Access denied", "The employer did not connect."));
  return redirect(
    withParams(target, {
      error: "access_denied",
      error_description: "The employer denied access",
      state: oauthState,
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
