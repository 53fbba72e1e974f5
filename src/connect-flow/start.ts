import type { ConnectSettings, FinchSettings } from "../config";
import { AppError } from "../errors";
import { createConnectSession, createReauthSession } from "../finch/api";
import { randomId, sha256Hex } from "../lib/encoding";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connection-store";
import type { TicketLedgerPort } from "../ticket-ledger/types";
import { type Flow, PENDING_TTL_S, type PendingFlow } from "./flow-state";
import { CLOCK_SKEW_S, claimsToShorten, type Ticket } from "./tickets";

export interface ConnectDeps {
  finch: FinchSettings;
  connect: ConnectSettings;
  ledger: TicketLedgerPort;
  /** Only needed for re-authentication, to check who owns the connection. */
  store: () => ConnectionStore;
  /** The longest pending cookie value a browser will keep, for this deployment's cookie name. */
  maxCookieValue: number;
  /** Seals the pending flow as the cookie will carry it (to check its size before any session). */
  seal: (flow: PendingFlow) => Promise<string>;
}

export interface StartedConnect {
  sessionId: string;
  /** Finch's connect_url with our state appended (redirect flow). */
  connectUrl: string;
  state: string;
  /** Set for a new session; undefined when this browser resumed the session it already had. */
  cookie: string | undefined;
}

/**
 * Starts (or, in the browser that started it, resumes) the one Finch Connect session a ticket
 * may create: a new connection, or a re-authentication when the ticket names a connection_id.
 * `current` is this browser's verified pending flow, if it has one.
 */
export async function startConnect(
  deps: ConnectDeps,
  ticket: Ticket,
  flow: Flow,
  current: PendingFlow | undefined,
  trace: Trace,
  nowMs = Date.now(),
): Promise<StartedConnect> {
  const state = randomId(32);
  const pending: PendingFlow = {
    k: "pending",
    state,
    jti: ticket.jti,
    flow,
    customer_id: ticket.sub,
    customer_name: ticket.name,
    ...(ticket.email ? { email: ticket.email } : {}),
    ...(ticket.connection_id ? { connection_id: ticket.connection_id } : {}),
    ...(ticket.return_to ? { return_to: ticket.return_to } : {}),
    exp: Math.floor(nowMs / 1000) + PENDING_TTL_S,
  };
  // Checked before the ticket is spent: a flow whose cookie the browser would drop could
  // never complete, so such a ticket is refused up front, naming the claims to shorten.
  const cookie = await deps.seal(pending);
  if (cookie.length > deps.maxCookieValue) throw tooLargeForCookie(pending, cookie.length - deps.maxCookieValue);

  const mine = current && current.jti === ticket.jti ? current : undefined;
  const claim = await deps.ledger.start(ticket.jti, {
    exp: ticket.exp,
    flow,
    resumeStateHash: mine ? await sha256Hex(mine.state) : undefined,
    graceS: CLOCK_SKEW_S,
  });
  if (claim.kind === "used") throw new AppError("ticket_used", "ticket already started a session elsewhere");
  if (claim.kind === "resume") {
    if (!mine) throw new AppError("ticket_used", "resume without this browser's flow");
    trace.notes.push("resumed this browser's session for the ticket");
    return { sessionId: claim.sessionId, connectUrl: claim.connectUrl, state: mine.state, cookie: undefined };
  }

  let session: { sessionId: string; connectUrl: string };
  try {
    session = await createSession(deps, ticket, flow, trace);
  } catch (e) {
    // No session exists: the customer may retry the same link. Best effort; a claim that
    // cannot be released leaves the link spent, which fails closed.
    await deps.ledger.release(ticket.jti).catch(() => trace.notes.push("ticket release failed"));
    throw e;
  }
  const url = new URL(session.connectUrl);
  url.searchParams.set("state", state);
  await deps.ledger.record(ticket.jti, {
    stateHash: await sha256Hex(state),
    sessionId: session.sessionId,
    connectUrl: url.href,
  });
  return { sessionId: session.sessionId, connectUrl: url.href, state, cookie };
}

async function createSession(
  deps: ConnectDeps,
  ticket: Ticket,
  flow: Flow,
  trace: Trace,
): Promise<{ sessionId: string; connectUrl: string }> {
  const products = ticket.products ?? deps.connect.products;
  // Finch rejects a redirect_uri at exchange time for sessions opened in the embedded SDK.
  const redirectUri = flow === "redirect" ? deps.connect.redirectUri : undefined;
  let session: { sessionId: string; connectUrl: string };
  if (ticket.connection_id) {
    trace.connectionId = ticket.connection_id;
    const existing = await deps.store().get(ticket.connection_id);
    if (!existing) throw new AppError("connection_not_found", "reauth ticket names an unknown connection");
    if (existing.customer_id !== ticket.sub) {
      throw new AppError("customer_mismatch", "reauth ticket names another customer's connection");
    }
    session = await createReauthSession(
      deps.finch,
      { connectionId: ticket.connection_id, products, redirectUri, minutesToExpire: deps.connect.sessionMinutes },
      trace,
    );
  } else {
    session = await createConnectSession(
      deps.finch,
      {
        customerId: ticket.sub,
        customerName: ticket.name,
        customerEmail: ticket.email,
        products,
        redirectUri,
        sandbox: deps.connect.sandbox,
        minutesToExpire: deps.connect.sessionMinutes,
      },
      trace,
    );
  }
  const url = new URL(session.connectUrl);
  const localFinch = deps.finch.baseUrl.startsWith("http://");
  if (url.protocol !== "https:" && !(localFinch && url.protocol === "http:")) {
    throw new AppError("finch_bad_response", "connect_url is not https");
  }
  return session;
}

/**
 * The claims that make the cookie too large, largest first, until the rest would fit. Tickets
 * within MAX_CLAIMS_BYTES always fit (tickets.ts); this guards the cookie itself, should its
 * other fields ever grow.
 */
function tooLargeForCookie(pending: PendingFlow, excess: number): AppError {
  const claims = {
    sub: pending.customer_id,
    name: pending.customer_name,
    email: pending.email,
    return_to: pending.return_to,
  };
  // The cookie is base64url: each byte of JSON costs 4/3 of a byte there.
  const named = claimsToShorten(claims, Math.ceil((excess * 3) / 4));
  return new AppError("ticket_claims_invalid", `pending cookie ${excess} bytes over the browser limit`, {
    expose: `Too large to keep in the browser's cookie; shorten: ${named.join(", ")}.`,
  });
}
