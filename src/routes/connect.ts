import type { Context } from "hono";
import type { Flow } from "../connect-flow/flow-state";
import { startConnect } from "../connect-flow/start";
import { checkBinding, MAX_TICKET_LENGTH, verifyTicket } from "../connect-flow/tickets";
import { configOf } from "../http/deps";
import {
  bindingCookieValue,
  pendingCookieLimit,
  readFlowCookies,
  sealPending,
  setPendingCookie,
} from "../http/flow-cookies";
import { singleParam, TOKEN_CHARS } from "../http/params";
import { newApp } from "../http/router";
import type { AppEnv } from "../http/types";
import { ledgerFor, storeFor } from "../operations/context";

/**
 * GET /connect?ticket=...          redirect flow: 302 to Finch Connect.
 * GET /connect/session?ticket=...  embedded flow: JSON { session_id, state } for Finch's SDK.
 * Both bind the flow to this browser with the signed pending cookie. A ticket starts one
 * session: the same browser asking again gets that session back, any other browser 409.
 * With TICKET_BINDING_COOKIE, a ticket opens only where the app's session cookie matches its `bind`.
 */
export const connectRoutes = newApp();

async function begin(c: Context<AppEnv>, flow: Flow) {
  const config = configOf(c);
  const connect = config.connect();
  const secret = config.ticketSecret();
  const ticket = await verifyTicket(
    singleParam(c, "ticket", { max: MAX_TICKET_LENGTH, pattern: TOKEN_CHARS }),
    secret,
    connect,
  );
  // Before the ticket is spent and before Finch is called: a bound ticket opens only in its own session.
  await checkBinding(ticket, connect.bindingCookie, bindingCookieValue(c, connect));
  const { pending } = await readFlowCookies(c, connect, secret);
  const started = await startConnect(
    {
      finch: config.finch(),
      connect,
      ledger: ledgerFor(c.env),
      store: () => storeFor(c.env),
      maxCookieValue: pendingCookieLimit(connect),
      seal: (flow) => sealPending(secret, flow),
    },
    ticket,
    flow,
    pending,
    c.get("trace"),
  );
  if (started.cookie) setPendingCookie(c, connect, started.cookie);
  return started;
}

connectRoutes.get("/connect", async (c) => {
  c.set("presentation", "page");
  const started = await begin(c, "redirect");
  return c.redirect(started.connectUrl, 302);
});

connectRoutes.get("/connect/session", async (c) => {
  const started = await begin(c, "embedded");
  return c.json({ session_id: started.sessionId, state: started.state });
});
