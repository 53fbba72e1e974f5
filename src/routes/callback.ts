import type { Context } from "hono";
import { constantTimeEqual } from "../crypto/compare";
import { type CallbackDeps, completeConnect, type FlowContext } from "../domain/callback";
import { DONE_TTL_S, type DoneFlow } from "../domain/flow-state";
import { looksLikeTicket, MAX_TICKET_LENGTH, verifyTicket } from "../domain/tickets";
import { AppError } from "../errors";
import { configOf, writersOf } from "../http/deps";
import { clearPendingCookie, finishFlowCookies, readFlowCookies } from "../http/flow-cookies";
import { successPage } from "../http/pages";
import { singleParam, TOKEN_CHARS } from "../http/params";
import { newApp } from "../http/router";
import type { AppEnv } from "../http/types";
import { sha256Hex } from "../lib/encoding";

/**
 * GET /callback?code=...&state=...  Finch's redirect (or the embedded page's onSuccess).
 * Order matters: every check that needs no network runs before the exchange, and
 * nothing is stored unless the exchange and every ownership check succeed.
 */
export const callbackRoutes = newApp();

const MAX_CODE = 512;

callbackRoutes.get("/callback", async (c) => {
  c.set("presentation", "callback");
  const config = configOf(c);
  const connect = config.connect();
  const secret = config.ticketSecret();
  const trace = c.get("trace");

  const state = singleParam(c, "state", { max: MAX_TICKET_LENGTH, pattern: TOKEN_CHARS });
  const code = singleParam(c, "code", { max: MAX_CODE, pattern: TOKEN_CHARS });
  const error = singleParam(c, "error", { max: 256 });
  if (!state) throw new AppError("state_missing");

  const cookies = await readFlowCookies(c, connect, secret);
  // The done cookie keeps a digest: a ticket used as state would not fit in a cookie.
  const stateHash = await sha256Hex(state);
  // A reload of a completed callback: same answer, no second exchange.
  if (cookies.done && constantTimeEqual(cookies.done.state_hash, stateHash)) {
    trace.connectionId = cookies.done.connection_id;
    trace.notes.push("replayed completed callback");
    return success(c, cookies.done);
  }

  let ctx: FlowContext;
  if (cookies.pending && constantTimeEqual(cookies.pending.state, state)) {
    const p = cookies.pending;
    ctx = {
      flow: p.flow,
      customerId: p.customer_id,
      customerName: p.customer_name,
      email: p.email,
      connectionId: p.connection_id,
      returnTo: p.return_to,
    };
  } else if (looksLikeTicket(state)) {
    // Sessions created by the app's own back end carry a ticket as their state.
    const ticket = await verifyTicket(state, secret, connect).catch((e: unknown) => {
      throw e instanceof AppError && e.code === "ticket_expired"
        ? e
        : new AppError("state_mismatch", "state is not a valid ticket");
    });
    ctx = ticket;
  } else {
    throw new AppError("state_mismatch", cookies.pending ? "state differs from cookie" : "no pending flow cookie");
  }

  if (!code) {
    clearPendingCookie(c, connect);
    throw new AppError(
      error ? "connect_cancelled" : "code_missing",
      error ? "callback carried error, no code" : undefined,
    );
  }

  const deps: CallbackDeps = { finch: config.finch(), connect, writers: writersOf(c) };
  let facts: Awaited<ReturnType<typeof completeConnect>>;
  try {
    facts = await completeConnect(deps, ctx, code, trace);
  } catch (e) {
    // The code was spent (or refused) either way: this flow cannot be resumed.
    clearPendingCookie(c, connect);
    throw e;
  }

  const target = ctx.returnTo ?? connect.successUrl;
  let location: string | undefined;
  if (target) {
    const url = new URL(target);
    url.searchParams.set("connection_id", facts.connection_id);
    location = url.href;
  }
  const done: DoneFlow = {
    k: "done",
    state_hash: stateHash,
    connection_id: facts.connection_id,
    provider_id: facts.provider_id,
    ...(location ? { location } : {}),
    exp: Math.floor(Date.now() / 1000) + DONE_TTL_S,
  };
  await finishFlowCookies(c, connect, secret, done);
  return success(c, done);
});

/** JSON when asked for (as errors do, even with ERROR_URL set), else the redirect or the page. */
function success(c: Context<AppEnv>, done: DoneFlow) {
  const accept = c.req.header("accept") ?? "";
  if (accept.includes("application/json") && !accept.includes("text/html")) {
    return c.json({ connection_id: done.connection_id, provider_id: done.provider_id });
  }
  if (done.location) return c.redirect(done.location, 303);
  return c.html(successPage(done.provider_id, done.connection_id));
}
