import { expect } from "vitest";
import { finch } from "./finch";
import { call, Jar, mintTicket, type TicketClaims } from "./http";
import type { Caller } from "./worker";

/** /callback with the given query values, encoded as Finch's redirect would. */
export const callbackPath = (params: Record<string, string>) => `/callback?${new URLSearchParams(params)}`;

/** Starts Connect through /connect and returns what the browser would hold. */
export async function startFlow(claims: TicketClaims = {}, jar = new Jar(), via: Caller = call) {
  const ticket = await mintTicket(claims);
  const res = await via(`/connect?ticket=${encodeURIComponent(ticket)}`, { headers: { cookie: jar.header() } });
  expect(res.status, await res.clone().text()).toBe(302);
  jar.take(res);
  const location = new URL(res.headers.get("location") ?? "");
  const state = location.searchParams.get("state") ?? "";
  const sessionId = location.searchParams.get("session") ?? "";
  return { jar, location, state, sessionId, ticket };
}

/** Walks the whole redirect flow: /connect, employer approves, /callback. */
export async function connectCustomer(
  claims: TicketClaims = {},
  jar = new Jar(),
  via: Caller = call,
  headers: Record<string, string> = {},
) {
  const flow = await startFlow(claims, jar, via);
  const code = finch().mock.approve(flow.sessionId);
  const res = await via(`/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(flow.state)}`, {
    headers: { ...headers, cookie: flow.jar.header() },
  });
  flow.jar.take(res);
  return { ...flow, code, res };
}
