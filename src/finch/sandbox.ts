import type { Trace } from "../lib/trace";
import type { FinchSettings } from "./http";
import { finchOperation, INVALID_CLIENT } from "./reply";
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
  const json = {
    provider_id: input.providerId,
    ...(input.products ? { products: input.products } : {}),
    ...(input.employeeSize !== undefined ? { employee_size: input.employeeSize } : {}),
    ...(input.authenticationType ? { authentication_type: input.authenticationType } : {}),
  };
  const c = await finchOperation(
    settings,
    // A repeat after a lost answer would make a second connection (billed until disconnected).
    { method: "POST", path: "/sandbox/connections", auth: { kind: "basic" }, idempotent: false, json },
    {
      what: "sandbox connection",
      schema: SandboxConnectionSchema,
      ok: [200, 201],
      byName: INVALID_CLIENT,
      // Finch names no error for an unknown provider: any refusal of the input is the caller's to fix.
      byStatus: {
        400: "sandbox_rejected",
        404: "sandbox_rejected",
        409: "sandbox_rejected",
        422: "sandbox_rejected",
        401: "finch_invalid_client",
      },
    },
    trace,
  );
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
