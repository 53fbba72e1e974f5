import type { ConnectSettings, FinchSettings } from "../config";
import { AppError } from "../errors";
import { exchangeCode } from "../finch/api";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { type ConnectionFacts, publicFacts, RECORD_VERSION, type StoredConnection } from "../storage/records";

/** Who the callback is for: from the pending cookie, or from a ticket used as state. */
export interface FlowContext {
  flow: "redirect" | "embedded";
  customerId: string;
  customerName: string;
  email: string | undefined;
  connectionId: string | undefined;
  returnTo: string | undefined;
}

export interface CallbackDeps {
  finch: FinchSettings;
  connect: ConnectSettings;
  store: ConnectionStore;
}

/**
 * Exchanges the code and stores the connection: one exchange, one KV read (the existing
 * record, for re-authentication and ownership), one or two KV writes. Nothing is
 * written unless every check passed.
 */
export async function completeConnect(
  deps: CallbackDeps,
  ctx: FlowContext,
  code: string,
  trace: Trace,
  now = new Date(),
): Promise<ConnectionFacts> {
  const redirectUri = ctx.flow === "redirect" ? deps.connect.redirectUri : undefined;
  const token = await exchangeCode(deps.finch, { code, redirectUri }, trace);
  trace.connectionId = token.connection_id;

  if (ctx.connectionId && token.connection_id !== ctx.connectionId) {
    throw new AppError("connection_mismatch", "reauth returned another connection");
  }
  if (token.customer_id && token.customer_id !== ctx.customerId) {
    throw new AppError("customer_mismatch", "token customer_id differs from the ticket");
  }
  const existing = await deps.store.get(token.connection_id);
  if (existing && existing.customer_id !== ctx.customerId) {
    throw new AppError("customer_mismatch", "stored connection belongs to another customer");
  }

  const at = now.toISOString();
  const record: StoredConnection = {
    v: RECORD_VERSION,
    connection_id: token.connection_id,
    customer_id: ctx.customerId,
    customer_name: token.customer_name || existing?.customer_name || ctx.customerName,
    customer_email: ctx.email ?? existing?.customer_email ?? null,
    provider_id: token.provider_id ?? existing?.provider_id ?? null,
    products: token.products ?? existing?.products ?? [],
    client_type: token.client_type ?? existing?.client_type ?? null,
    connection_type: token.connection_type ?? existing?.connection_type ?? null,
    company_id: token.company_id ?? existing?.company_id ?? null,
    account_id: token.account_id ?? existing?.account_id ?? null,
    status: "connected",
    status_at: at,
    created_at: existing?.created_at ?? at,
    updated_at: at,
    token: await deps.store.seal(token.connection_id, token.access_token),
    ...(existing?.events ? { events: existing.events } : {}),
  };
  await deps.store.write(record, { indexNew: !existing });
  return publicFacts(record);
}
