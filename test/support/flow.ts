import { expect } from "vitest";
import { finch } from "./finch";
import { kvNames, rememberToken } from "./fixtures";
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

/**
 * A finch_multi_entity connection (two entities) through the real Connect flow: its id, entity ids
 * and token. The caller clears KV first (the new connection is the one `conn:` key).
 */
export async function connectMultiEntity(): Promise<{ id: string; entities: string[]; token: string }> {
  const flow = await startFlow();
  const code = finch().mock.approve(flow.sessionId, { providerId: "finch_multi_entity" });
  const res = await call(`/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(flow.state)}`, {
    headers: { cookie: flow.jar.header() },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const [key] = (await kvNames()).filter((k) => k.startsWith("conn:"));
  const id = (key as string).slice("conn:".length);
  const mock = finch().mock.connections.get(id);
  expect(mock?.entities).toHaveLength(2);
  const token = mock?.accessToken as string;
  rememberToken(token);
  return { id, entities: mock?.entities.map((e) => e.id) ?? [], token };
}
