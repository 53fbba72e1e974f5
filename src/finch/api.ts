import type { Trace } from "../lib/trace";
import type { FinchSettings } from "./http";
import { callFinch, parseErrorBody } from "./http";
import { parse, rejected } from "./reply";
import {
  DisconnectSchema,
  type Introspection,
  IntrospectSchema,
  SessionSchema,
  type TokenResponse,
  TokenSchema,
} from "./schemas";

/**
 * Finch operations this product uses. Each builds one request and turns the reply into a
 * validated result or a typed AppError (finch/reply.ts); none returns an HTTP response or logs a body.
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

export async function createConnectSession(
  settings: FinchSettings,
  input: NewSession,
  trace: Trace,
): Promise<{ sessionId: string; connectUrl: string }> {
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/connect/sessions",
      auth: { kind: "basic" },
      idempotent: true,
      json: {
        customer_id: input.customerId,
        customer_name: input.customerName,
        products: input.products,
        ...(input.customerEmail ? { customer_email: input.customerEmail } : {}),
        ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
        ...(input.sandbox ? { sandbox: input.sandbox } : {}),
        minutes_to_expire: input.minutesToExpire,
      },
    },
    trace,
  );
  if (reply.status !== 200 && reply.status !== 201) {
    throw rejected(reply, "connect session", { invalid_client_error: "finch_invalid_client" });
  }
  const s = parse(SessionSchema, reply, "connect session");
  return { sessionId: s.session_id, connectUrl: s.connect_url };
}

export async function createReauthSession(
  settings: FinchSettings,
  input: { connectionId: string; products: string[]; redirectUri?: string | undefined; minutesToExpire: number },
  trace: Trace,
): Promise<{ sessionId: string; connectUrl: string }> {
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/connect/sessions/reauthenticate",
      auth: { kind: "basic" },
      idempotent: true,
      json: {
        connection_id: input.connectionId,
        products: input.products,
        ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
        // Finch's default for a re-authentication is 30 days.
        minutes_to_expire: input.minutesToExpire,
      },
    },
    trace,
  );
  if (reply.status !== 200 && reply.status !== 201) {
    throw rejected(reply, "reauth session", { invalid_client_error: "finch_invalid_client" });
  }
  const s = parse(SessionSchema, reply, "reauth session");
  return { sessionId: s.session_id, connectUrl: s.connect_url };
}

/**
 * POST /auth/token. Credentials travel in the JSON body (no Authorization header), and
 * redirect_uri is sent only for the redirect flow: Finch rejects it for the embedded one.
 * Never retried: the code is single-use, and a repeat after Finch answered would fail.
 */
export async function exchangeCode(
  settings: FinchSettings,
  input: { code: string; redirectUri: string | undefined },
  trace: Trace,
): Promise<TokenResponse> {
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/auth/token",
      auth: { kind: "none" },
      idempotent: false,
      json: {
        client_id: settings.clientId,
        client_secret: settings.clientSecret,
        code: input.code,
        ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
      },
    },
    trace,
  );
  if (reply.status !== 200) {
    throw rejected(reply, "token exchange", {
      invalid_grant_error: "finch_invalid_grant",
      invalid_client_error: "finch_invalid_client",
    });
  }
  return parse(TokenSchema, reply, "token exchange");
}

export async function introspect(settings: FinchSettings, token: string, trace: Trace): Promise<Introspection> {
  const reply = await callFinch(
    settings,
    { method: "GET", path: "/introspect", auth: { kind: "bearer", token }, idempotent: true },
    trace,
  );
  if (reply.status !== 200) throw rejected(reply, "introspect");
  return parse(IntrospectSchema, reply, "introspect");
}

/**
 * POST /disconnect. "already_invalid" when Finch says the token no longer works, so the
 * caller can still forget the connection; anything else that is not success throws.
 */
export async function disconnect(
  settings: FinchSettings,
  token: string,
  trace: Trace,
): Promise<"disconnected" | "already_invalid"> {
  const reply = await callFinch(
    settings,
    { method: "POST", path: "/disconnect", auth: { kind: "bearer", token }, idempotent: true },
    trace,
  );
  if (reply.status === 401) return "already_invalid";
  if (reply.status !== 200) throw rejected(reply, "disconnect");
  parse(DisconnectSchema, reply, "disconnect");
  return "disconnected";
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
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/disconnect-entity",
      auth: { kind: "bearer", token },
      idempotent: true,
      json: { entity_ids: entityIds },
    },
    trace,
  );
  if (reply.status === 401 && parseErrorBody(reply.body).finchCode !== "reauthenticate_user") return "already_invalid";
  if (reply.status !== 200) {
    throw rejected(
      reply,
      "disconnect entity",
      {},
      { 400: "entity_not_found", 404: "entity_not_found", 422: "entity_not_found" },
    );
  }
  parse(DisconnectSchema, reply, "disconnect entity");
  return "disconnected";
}
