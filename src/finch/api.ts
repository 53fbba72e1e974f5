import * as v from "valibot";
import type { FinchSettings } from "../config";
import { AppError, type ErrorCode } from "../errors";
import type { Trace } from "../lib/trace";
import { callFinch, type FinchReply, parseErrorBody } from "./http";
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
 * validated result or a typed AppError; none returns an HTTP response or logs a body.
 */
function parse<S extends v.GenericSchema>(schema: S, reply: FinchReply, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, reply.body);
  if (!result.success) {
    const field = result.issues[0] ? v.getDotPath(result.issues[0]) : undefined;
    throw new AppError("finch_bad_response", `${what}: field ${field ?? "(root)"} invalid`);
  }
  return result.output;
}

/** Maps a non-2xx reply that is not 429/5xx (those throw in callFinch). */
function rejected(reply: FinchReply, what: string, byName: Partial<Record<string, ErrorCode>> = {}): AppError {
  const { name, finchCode } = parseErrorBody(reply.body);
  const detail = `${what}: ${reply.status} ${name ?? "?"}${finchCode ? `/${finchCode}` : ""}`;
  if (finchCode === "reauthenticate_user") return new AppError("finch_reauthenticate", detail);
  const mapped = name ? byName[name] : undefined;
  if (mapped) return new AppError(mapped, detail);
  if (reply.status === 401 && what === "token exchange") return new AppError("finch_invalid_client", detail);
  return new AppError("finch_rejected", detail);
}

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
