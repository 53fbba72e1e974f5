import type { Trace } from "../lib/trace";
import type { FinchSettings } from "./http";
import { parseErrorBody } from "./http";
import { finchOperation, INVALID_CLIENT } from "./reply";
import {
  DisconnectSchema,
  type Introspection,
  IntrospectSchema,
  SessionSchema,
  type TokenResponse,
  TokenSchema,
} from "./schemas";

/**
 * Finch operations this product uses. Each states one request and what it expects of the reply
 * (finch/reply.ts: a validated result or a typed AppError); none returns an HTTP response or logs a body.
 */

export interface NewSession {
  customerId: string;
  customerName: string;
  customerEmail?: string | undefined;
  products: string[];
  redirectUri?: string | undefined;
  sandbox?: "finch" | "provider" | undefined;
  /** Finch's minutes_to_expire (1..129600); Finch's default when not sent is 90 days. */
  minutesToExpire: number;
}

export interface Session {
  sessionId: string;
  connectUrl: string;
}

export function createConnectSession(settings: FinchSettings, input: NewSession, trace: Trace): Promise<Session> {
  return openSession(settings, trace, "connect session", "/connect/sessions", {
    customer_id: input.customerId,
    customer_name: input.customerName,
    products: input.products,
    ...(input.customerEmail ? { customer_email: input.customerEmail } : {}),
    ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
    ...(input.sandbox ? { sandbox: input.sandbox } : {}),
    minutes_to_expire: input.minutesToExpire,
  });
}

export function createReauthSession(
  settings: FinchSettings,
  input: { connectionId: string; products: string[]; redirectUri?: string | undefined; minutesToExpire: number },
  trace: Trace,
): Promise<Session> {
  return openSession(settings, trace, "reauth session", "/connect/sessions/reauthenticate", {
    connection_id: input.connectionId,
    products: input.products,
    ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
    // Finch's default for a re-authentication is 30 days.
    minutes_to_expire: input.minutesToExpire,
  });
}

/** A Connect session, new or a re-authentication: the same call with the application's credentials. */
async function openSession(
  settings: FinchSettings,
  trace: Trace,
  what: "connect session" | "reauth session",
  path: string,
  json: Record<string, unknown>,
): Promise<Session> {
  const s = await finchOperation(
    settings,
    { method: "POST", path, auth: { kind: "basic" }, idempotent: true, json },
    { what, schema: SessionSchema, ok: [200, 201], byName: INVALID_CLIENT },
    trace,
  );
  return { sessionId: s.session_id, connectUrl: s.connect_url };
}

/**
 * POST /auth/token. Credentials travel in the JSON body (no Authorization header), and
 * redirect_uri is sent only for the redirect flow: Finch rejects it for the embedded one.
 * Never retried: the code is single-use, and a repeat after Finch answered would fail.
 */
export function exchangeCode(
  settings: FinchSettings,
  input: { code: string; redirectUri: string | undefined },
  trace: Trace,
): Promise<TokenResponse> {
  const json = {
    client_id: settings.clientId,
    client_secret: settings.clientSecret,
    code: input.code,
    ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
  };
  return finchOperation(
    settings,
    { method: "POST", path: "/auth/token", auth: { kind: "none" }, idempotent: false, json },
    {
      what: "token exchange",
      schema: TokenSchema,
      byName: { invalid_grant_error: "finch_invalid_grant", ...INVALID_CLIENT },
    },
    trace,
  );
}

export function introspect(settings: FinchSettings, token: string, trace: Trace): Promise<Introspection> {
  return finchOperation(
    settings,
    { method: "GET", path: "/introspect", auth: { kind: "bearer", token }, idempotent: true },
    { what: "introspect", schema: IntrospectSchema },
    trace,
  );
}

/** What a disconnect answers when Finch says the token no longer works. */
const ALREADY_INVALID = "already_invalid";

/**
 * POST /disconnect. "already_invalid" when Finch says the token no longer works, so the
 * caller can still forget the connection; anything else that is not success throws.
 */
export async function disconnect(
  settings: FinchSettings,
  token: string,
  trace: Trace,
): Promise<"disconnected" | "already_invalid"> {
  const answer = await finchOperation(
    settings,
    { method: "POST", path: "/disconnect", auth: { kind: "bearer", token }, idempotent: true },
    { what: "disconnect", schema: DisconnectSchema, answer: (r) => (r.status === 401 ? ALREADY_INVALID : undefined) },
    trace,
  );
  return answer === ALREADY_INVALID ? answer : "disconnected";
}

/**
 * POST /disconnect-entity { entity_ids }: disconnects those entities of a multi-entity connection
 * and keeps the others. "already_invalid" when Finch says the token no longer works (as for
 * disconnect); an entity Finch does not know for this connection is entity_not_found.
 */
export async function disconnectEntities(
  settings: FinchSettings,
  token: string,
  entityIds: readonly string[],
  trace: Trace,
): Promise<"disconnected" | "already_invalid"> {
  const json = { entity_ids: entityIds };
  const answer = await finchOperation(
    settings,
    { method: "POST", path: "/disconnect-entity", auth: { kind: "bearer", token }, idempotent: true, json },
    {
      what: "disconnect entity",
      schema: DisconnectSchema,
      byStatus: { 400: "entity_not_found", 404: "entity_not_found", 422: "entity_not_found" },
      // A 401 asking for re-authentication is not a dead token: it stays finch_reauthenticate.
      answer: (r) =>
        r.status === 401 && parseErrorBody(r.body).finchCode !== "reauthenticate_user" ? ALREADY_INVALID : undefined,
    },
    trace,
  );
  return answer === ALREADY_INVALID ? answer : "disconnected";
}
