import type { Context } from "hono";
import type { ConnectSettings } from "../config";
import { cookieKey } from "../crypto/cookie-key";
import {
  DONE_TTL_S,
  type DoneFlow,
  openDone,
  openPending,
  PENDING_TTL_S,
  type PendingFlow,
  sealFlow,
} from "../domain/flow-state";
import { type CookieAttributes, readCookie, serializeCookie } from "./cookies";
import type { AppEnv } from "./types";

/**
 * Where the flow cookies live. HttpOnly and SameSite=Lax (the callback is a top-level
 * GET navigation from Finch, which Lax allows). Over https they are Secure with the
 * __Host- prefix, so no subdomain can plant or read them.
 */
const names = (secure: boolean) =>
  secure ? { pending: "__Host-fce_state", done: "__Host-fce_done" } : { pending: "fce_state", done: "fce_done" };

const options = (secure: boolean, maxAge: number): CookieAttributes => ({
  path: "/",
  httpOnly: true,
  secure,
  sameSite: "Lax",
  maxAge,
});

const setCookie = (c: Context<AppEnv>, name: string, value: string, attributes: CookieAttributes) =>
  c.header("Set-Cookie", serializeCookie(name, value, attributes), { append: true });
const deleteCookie = (c: Context<AppEnv>, name: string, secure: boolean) => setCookie(c, name, "", options(secure, 0));

export async function setPendingCookie(
  c: Context<AppEnv>,
  connect: ConnectSettings,
  ticketSecret: string,
  flow: PendingFlow,
) {
  const value = await sealFlow(await cookieKey(ticketSecret), flow);
  setCookie(c, names(connect.secureCookies).pending, value, options(connect.secureCookies, PENDING_TTL_S));
}

export async function readFlowCookies(c: Context<AppEnv>, connect: ConnectSettings, ticketSecret: string) {
  const n = names(connect.secureCookies);
  const key = await cookieKey(ticketSecret);
  const [pending, done] = await Promise.all([
    openPending(key, readCookie(c.req.raw.headers, n.pending)),
    openDone(key, readCookie(c.req.raw.headers, n.done)),
  ]);
  return { pending, done };
}

/** After a success: the pending flow is over; the done marker lets a reload show it again. */
export async function finishFlowCookies(
  c: Context<AppEnv>,
  connect: ConnectSettings,
  ticketSecret: string,
  done: DoneFlow,
) {
  const n = names(connect.secureCookies);
  deleteCookie(c, n.pending, connect.secureCookies);
  setCookie(c, n.done, await sealFlow(await cookieKey(ticketSecret), done), options(connect.secureCookies, DONE_TTL_S));
}

export function clearPendingCookie(c: Context<AppEnv>, connect: ConnectSettings) {
  deleteCookie(c, names(connect.secureCookies).pending, connect.secureCookies);
}
