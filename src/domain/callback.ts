import type { ConnectSettings, FinchSettings } from "../config";
import { constantTimeEqual } from "../crypto/compare";
import { AppError } from "../errors";
import { exchangeCode } from "../finch/api";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { type ConnectionFacts, publicFacts, RECORD_VERSION, type StoredConnection } from "../storage/records";
import type { DoneFlow, PendingFlow } from "./flow-state";

/**
 * Which flow a callback belongs to. Only the browser that started a flow can finish it: its
 * signed pending cookie must hold this exact state (compared in constant time). There is no
 * other way in: a state that is not this browser's is refused before anything is cleared,
 * exchanged or stored, so a link crafted by another customer cannot attach a connection to her.
 */
export function resolveCallback(
  cookies: { pending: PendingFlow | undefined; done: DoneFlow | undefined },
  state: string,
  stateHash: string,
): { replay: DoneFlow } | { pending: PendingFlow } {
  // A reload of a completed callback: same answer, no second exchange.
  if (cookies.done && constantTimeEqual(cookies.done.state_hash, stateHash)) return { replay: cookies.done };
  if (cookies.pending && constantTimeEqual(cookies.pending.state, state)) return { pending: cookies.pending };
  throw new AppError("state_mismatch", cookies.pending ? "state differs from cookie" : "no pending flow cookie");
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
  ctx: PendingFlow,
  code: string,
  trace: Trace,
  now = new Date(),
): Promise<ConnectionFacts> {
  const redirectUri = ctx.flow === "redirect" ? deps.connect.redirectUri : undefined;
  const token = await exchangeCode(deps.finch, { code, redirectUri }, trace);
  trace.connectionId = token.connection_id;

  if (ctx.connection_id && token.connection_id !== ctx.connection_id) {
    trace.security = "connection_mismatch";
    throw new AppError("connection_mismatch", "reauth returned another connection");
  }
  // Fails closed: the cookie binds the callback to a browser, not the code to a customer (a
  // customer can paste a code stolen from someone else's flow into her own). Finch echoes
  // the customer its session was created for; with no customer_id we cannot tell, so refuse.
  if (!token.customer_id || !constantTimeEqual(token.customer_id, ctx.customer_id)) {
    trace.security = "customer_mismatch";
    throw new AppError(
      "customer_mismatch",
      token.customer_id ? "token customer_id differs from the flow's" : "token has no customer_id",
    );
  }
  const existing = await deps.store.get(token.connection_id);
  if (existing && existing.customer_id !== ctx.customer_id) {
    trace.security = "customer_mismatch";
    throw new AppError("customer_mismatch", "stored connection belongs to another customer");
  }

  const at = now.toISOString();
  const record: StoredConnection = {
    v: RECORD_VERSION,
    connection_id: token.connection_id,
    customer_id: ctx.customer_id,
    customer_name: token.customer_name || existing?.customer_name || ctx.customer_name,
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
