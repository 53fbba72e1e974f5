import type { ConnectSettings, FinchSettings } from "../config";
import { AppError } from "../errors";
import { createConnectSession, createReauthSession } from "../finch/api";
import { randomId } from "../lib/encoding";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { PENDING_TTL_S, type PendingFlow } from "./flow-state";
import type { Ticket } from "./tickets";

export interface ConnectDeps {
  finch: FinchSettings;
  connect: ConnectSettings;
  /** Only needed for re-authentication, to check who owns the connection. */
  store: () => ConnectionStore;
}

export interface StartedConnect {
  sessionId: string;
  /** Finch's connect_url with our state appended (redirect flow). */
  connectUrl: string;
  state: string;
  pending: PendingFlow;
}

/**
 * Creates a Finch Connect session for a verified ticket (a new connection, or a
 * re-authentication when the ticket names a connection_id) and the pending flow that
 * binds the answer to this browser.
 */
export async function startConnect(
  deps: ConnectDeps,
  ticket: Ticket,
  flow: "redirect" | "embedded",
  trace: Trace,
  nowMs = Date.now(),
): Promise<StartedConnect> {
  const products = ticket.products ?? deps.connect.products;
  // Finch rejects a redirect_uri at exchange time for sessions opened in the embedded SDK.
  const redirectUri = flow === "redirect" ? deps.connect.redirectUri : undefined;

  let session: { sessionId: string; connectUrl: string };
  if (ticket.connectionId) {
    trace.connectionId = ticket.connectionId;
    const existing = await deps.store().get(ticket.connectionId);
    if (!existing) throw new AppError("connection_not_found", "reauth ticket names an unknown connection");
    if (existing.customer_id !== ticket.customerId) {
      throw new AppError("customer_mismatch", "reauth ticket names another customer's connection");
    }
    session = await createReauthSession(
      deps.finch,
      { connectionId: ticket.connectionId, products, redirectUri },
      trace,
    );
  } else {
    session = await createConnectSession(
      deps.finch,
      {
        customerId: ticket.customerId,
        customerName: ticket.customerName,
        customerEmail: ticket.email,
        products,
        redirectUri,
        sandbox: deps.connect.sandbox,
      },
      trace,
    );
  }

  const url = new URL(session.connectUrl);
  const localFinch = deps.finch.baseUrl.startsWith("http://");
  if (url.protocol !== "https:" && !(localFinch && url.protocol === "http:")) {
    throw new AppError("finch_bad_response", "connect_url is not https");
  }
  const state = randomId(32);
  url.searchParams.set("state", state);

  return {
    sessionId: session.sessionId,
    connectUrl: url.href,
    state,
    pending: {
      k: "pending",
      state,
      flow,
      customer_id: ticket.customerId,
      customer_name: ticket.customerName,
      ...(ticket.email ? { email: ticket.email } : {}),
      ...(ticket.connectionId ? { connection_id: ticket.connectionId } : {}),
      ...(ticket.returnTo ? { return_to: ticket.returnTo } : {}),
      exp: Math.floor(nowMs / 1000) + PENDING_TTL_S,
    },
  };
}
