import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import type { ConnectSettings } from "../config";
import {
  DONE_TTL_S,
  type DoneFlow,
  MAX_COOKIE,
  openDone,
  openPending,
  PENDING_TTL_S,
  type PendingFlow,
  sealFlow,
} from "../connect-flow/flow-state";
import { cookieKey } from "../crypto/cookie-key";
import type { AppEnv } from "./types";

/**
 * Where the flow cookies live. HttpOnly and SameSite=Lax (the callback is a top-level
 * GET navigation from Finch, which Lax allows). Over https they are Secure with the
 * __Host- prefix, so no subdomain can plant or read them. Reading and writing is Hono's
 * cookie helper, linear in the header (app.ts refuses a Cookie header over 8 KiB first).
 */
const PENDING = "fce_state";
const DONE = "fce_done";

function options(secure: boolean, maxAge: number): CookieOptions {
  const base = { path: "/", httpOnly: true, sameSite: "Lax", maxAge } as const;
  // prefix "host" names the cookie __Host-<name> and forces Secure, Path=/ and no Domain.
  return secure ? { ...base, secure: true, prefix: "host" } : { ...base, secure: false };
}

const read = (c: Context<AppEnv>, name: string, secure: boolean) => getCookie(c, name, secure ? "host" : undefined);
const write = (c: Context<AppEnv>, name: string, value: string, secure: boolean, maxAge: number) =>
  setCookie(c, name, value, options(secure, maxAge));
const remove = (c: Context<AppEnv>, name: string, secure: boolean) => void deleteCookie(c, name, options(secure, 0));

/** Seals a pending flow as its cookie value (the caller checks its size against pendingCookieLimit). */
export async function sealPending(ticketSecret: string, flow: PendingFlow): Promise<string> {
  return sealFlow(await cookieKey(ticketSecret), flow);
}

/** The longest pending cookie value browsers keep under this deployment's cookie name. */
export const pendingCookieLimit = (connect: ConnectSettings) =>
  MAX_COOKIE - (connect.secureCookies ? `__Host-${PENDING}` : PENDING).length - 1;

export function setPendingCookie(c: Context<AppEnv>, connect: ConnectSettings, sealed: string) {
  write(c, PENDING, sealed, connect.secureCookies, PENDING_TTL_S);
}

export async function readFlowCookies(c: Context<AppEnv>, connect: ConnectSettings, ticketSecret: string) {
  const secure = connect.secureCookies;
  const key = await cookieKey(ticketSecret);
  const [pending, done] = await Promise.all([
    openPending(key, read(c, PENDING, secure)),
    openDone(key, read(c, DONE, secure)),
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
  remove(c, PENDING, connect.secureCookies);
  write(c, DONE, await sealFlow(await cookieKey(ticketSecret), done), connect.secureCookies, DONE_TTL_S);
}

export function clearPendingCookie(c: Context<AppEnv>, connect: ConnectSettings) {
  remove(c, PENDING, connect.secureCookies);
}

/**
 * The app's own session cookie, when TICKET_BINDING_COOKIE names one: read only to be hashed and
 * compared with the ticket's `bind` claim (connect-flow/tickets.ts), never kept or logged. As Hono
 * reads any cookie: the first of that name, quotes removed, percent-escapes decoded.
 */
export const bindingCookieValue = (c: Context<AppEnv>, connect: ConnectSettings): string | undefined =>
  connect.bindingCookie === undefined ? undefined : getCookie(c, connect.bindingCookie);
