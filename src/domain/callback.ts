import type { ConnectSettings, FinchSettings } from "../config";
import { AppError } from "../errors";
import { exchangeCode } from "../finch/api";
import type { Trace } from "../lib/trace";
import type { ConnectionFacts } from "../storage/records";
import type { Writers } from "../writer/protocol";

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
  writers: Writers;
}

/**
 * Exchanges the code and stores the connection through its single writer: one exchange, one
 * writer call (which checks ownership against the authoritative record, clears a tombstone,
 * and writes one or two KV entries). Nothing is written unless every check passed.
 */
export async function completeConnect(
  deps: CallbackDeps,
  ctx: FlowContext,
  code: string,
  trace: Trace,
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
  return deps.writers(token.connection_id).connect(
    {
      accessToken: token.access_token,
      customerId: ctx.customerId,
      customerName: ctx.customerName,
      finchCustomerName: token.customer_name ?? null,
      customerEmail: ctx.email ?? null,
      provider_id: token.provider_id ?? null,
      products: token.products ?? null,
      client_type: token.client_type ?? null,
      connection_type: token.connection_type ?? null,
      company_id: token.company_id ?? null,
      account_id: token.account_id ?? null,
    },
    trace,
  );
}
