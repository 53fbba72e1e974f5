import type { Trace } from "../lib/trace";
import type { FinchSettings } from "./http";
import { callFinch } from "./http";
import { parse, rejected } from "./reply";
import { SandboxConnectionSchema } from "./schemas";

/**
 * POST /sandbox/connections: a live sandbox connection with no browser involved. Finch decides
 * sandbox against production by the application's credentials (HTTP Basic), not by host; a
 * production application cannot use it.
 */
export interface SandboxConnectionInput {
  providerId: string;
  products?: string[] | undefined;
  /** Finch's default is 20; above 100 Finch generates a single pay period. */
  employeeSize?: number | undefined;
  authenticationType?: "credential" | "api_token" | "oauth" | "assisted" | undefined;
}

export interface SandboxConnection {
  accessToken: string;
  connectionId: string;
  /** Finch's entity_id (the first entity); every entity is listed by introspect. */
  entityIds: string[];
  providerId: string;
  products: string[];
  authenticationType: string | null;
  companyId: string | null;
  accountId: string | null;
}

export async function createSandboxConnection(
  settings: FinchSettings,
  input: SandboxConnectionInput,
  trace: Trace,
): Promise<SandboxConnection> {
  const reply = await callFinch(
    settings,
    {
      method: "POST",
      path: "/sandbox/connections",
      auth: { kind: "basic" },
      // A repeat after a lost answer would make a second connection (billed until disconnected).
      idempotent: false,
      json: {
        provider_id: input.providerId,
        ...(input.products ? { products: input.products } : {}),
        ...(input.employeeSize !== undefined ? { employee_size: input.employeeSize } : {}),
        ...(input.authenticationType ? { authentication_type: input.authenticationType } : {}),
      },
    },
    trace,
  );
  if (reply.status !== 200 && reply.status !== 201) {
    // Finch names no error for an unknown provider: any refusal of the input is the caller's to fix.
    throw rejected(
      reply,
      "sandbox connection",
      { invalid_client_error: "finch_invalid_client" },
      {
        400: "sandbox_rejected",
        404: "sandbox_rejected",
        409: "sandbox_rejected",
        422: "sandbox_rejected",
        401: "finch_invalid_client",
      },
    );
  }
  const c = parse(SandboxConnectionSchema, reply, "sandbox connection");
  trace.connectionId = c.connection_id;
  return {
    accessToken: c.access_token,
    connectionId: c.connection_id,
    entityIds: c.entity_ids ?? (c.entity_id ? [c.entity_id] : []),
    providerId: c.provider_id,
    products: c.products,
    authenticationType: c.authentication_type ?? null,
    companyId: c.company_id ?? null,
    accountId: c.account_id ?? null,
  };
}
