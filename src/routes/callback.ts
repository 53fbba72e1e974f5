import type { Context } from "hono";
import { type CallbackDeps, completeConnect, resolveCallback } from "../connect-flow/callback";
import { DONE_TTL_S, type DoneFlow } from "../connect-flow/flow-state";
import { AppError } from "../errors";
import { configOf } from "../http/deps";
import { clearPendingCookie, finishFlowCookies, readFlowCookies } from "../http/flow-cookies";
import { successPage } from "../http/pages";
import { singleParam, TOKEN_CHARS } from "../http/params";
import { newApp } from "../http/router";
import type { AppEnv } from "../http/types";
import { sha256Hex } from "../lib/encoding";
import { writersFor } from "../operations/context";

/**
 * GET /callback?code=...&state=...  Finch's redirect (or the embedded page's onSuccess).
 * Order matters: every check that needs no network runs before the exchange, and
 * nothing is stored unless the exchange and every ownership check succeed.
 */
export const callbackRoutes = newApp();

const MAX_CODE = 512;
const MAX_STATE = 128;

callbackRoutes.get("/callback", async (c) => {
  c.set("presentation", "callback");
  const config = configOf(c);
  const connect = config.connect();
  const secret = config.ticketSecret();
  const trace = c.get("trace");
  trace.actor = "connect";

  const state = singleParam(c, "state", { max: MAX_STATE, pattern: TOKEN_CHARS });
  const code = singleParam(c, "code", { max: MAX_CODE, pattern: TOKEN_CHARS });
  const error = singleParam(c, "error", { max: 256 });
  if (!state) throw new AppError("state_missing");

  const stateHash = await sha256Hex(state);
  const resolved = resolveCallback(await readFlowCookies(c, connect, secret), state, stateHash);
  if ("replay" in resolved) {
    trace.connectionId = resolved.replay.connection_id;
    trace.notes.push("replayed completed callback");
    return success(c, resolved.replay);
  }
  const flow = resolved.pending;

  // From here on the callback is this browser's own: only now may its pending flow end.
  if (!code) {
    clearPendingCookie(c, connect);
    throw new AppError(
      error ? "connect_cancelled" : "code_missing",
      error ? "callback carried error, no code" : undefined,
    );
  }

  const deps: CallbackDeps = { finch: config.finch(), connect, writers: writersFor(c.env) };
  let facts: Awaited<ReturnType<typeof completeConnect>>;
  try {
    facts = await completeConnect(deps, flow, code, trace);
  } catch (e) {
    // The code was spent (or refused) either way: this flow cannot be resumed.
    clearPendingCookie(c, connect);
    throw e;
  }

  // Kept as text: the URL (percent-encoded, often much longer) is built only to redirect.
  const location = flow.return_to ?? connect.successUrl;
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
  if (done.location) {
    // Checked against ALLOWED_RETURN_ORIGINS at /connect (or SUCCESS_URL, from configuration).
    const url = new URL(done.location);
    url.searchParams.set("connection_id", done.connection_id);
    return c.redirect(url.href, 303);
  }
  return c.html(successPage(done.provider_id, done.connection_id));
}
