import * as v from "valibot";
import { AppError } from "../errors";
import { EntityIdSchema } from "../finch/schemas";

/**
 * Where a proxied call may go: below the configured Finch base URL and nowhere else. The
 * caller chooses the path, so every trick that could move the request elsewhere (dot
 * segments, encoded or backslash separators, empty segments, an absolute URL) is refused
 * before any upstream call, and the built URL is checked against the base once more.
 */
const ENCODED_SEPARATOR = /%(2f|5c)/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\u0000-\u001f\u007f]/;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const MAX_PATH = 2048;
const MAX_QUERY = 8192;

const refuse = (why: string) => new AppError("param_invalid", `finch path ${why}`);

/**
 * `path` is percent-encoded as received and starts with "/"; `search` is "" or "?...". The URL,
 * with the path as it decoded (what the reserved-path and product rules read).
 */
export function finchTarget(baseUrl: string, path: string, search: string): { url: URL; decoded: string } {
  if (!path.startsWith("/") || path === "/") throw refuse("is missing");
  if (path.length > MAX_PATH || search.length > MAX_QUERY) throw refuse("or query is too long");
  if (ENCODED_SEPARATOR.test(path)) throw refuse("has an encoded separator");
  // A raw ? or # would end the path when the URL is built, so the reserved-path check below
  // would see "/disconnect?" while Finch got POST /disconnect. An HTTP path never holds them
  // unencoded; an RPC caller's plain-object path can.
  if (/[?#]/.test(path)) throw refuse("has a query or fragment character");
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw refuse("is not valid percent-encoding");
  }
  if (CONTROL.test(decoded)) throw refuse("has a control character");
  if (decoded.includes("\\")) throw refuse("has a backslash");
  if (decoded.includes("//")) throw refuse("has an empty segment");
  const segments = decoded.slice(1).split("/");
  if (segments.some((s) => s === "." || s === "..")) throw refuse("has a dot segment");
  if (SCHEME.test(decoded.slice(1)) || decoded.includes("://")) throw refuse("has a scheme");

  checkEntityIds(search);
  const base = parsedBase(baseUrl);
  let url: URL;
  try {
    url = new URL(`${base.origin}${base.path}${path}${search}`);
  } catch {
    throw refuse("does not form a URL");
  }
  if (url.origin !== base.origin || !url.pathname.startsWith(`${base.path}/`))
    throw refuse("leaves the Finch base URL");
  return { url, decoded };
}

/** The base URL's origin and path (no trailing slash), parsed once per value rather than per call. */
let lastBase: { text: string; origin: string; path: string } | undefined;
function parsedBase(baseUrl: string): { origin: string; path: string } {
  if (lastBase?.text !== baseUrl) {
    const base = new URL(baseUrl);
    lastBase = { text: baseUrl, origin: base.origin, path: base.pathname.replace(/\/+$/, "") };
  }
  return lastBase;
}

/**
 * `entity_ids` (which entities of a multi-entity connection a call is for; Finch's write
 * endpoints take it as a query parameter, the SDK sends `entity_ids[]=`) passes through as
 * sent, but each value must be one entity id: anything else is refused before Finch is asked.
 * Only the query string is read (no storage), and only when it names entity ids.
 */
const ENTITY_IDS_NAME = /^entity_ids(\[\d{0,4}\])?$/;

function checkEntityIds(search: string): void {
  if (!/entity|%/i.test(search)) return;
  for (const [name, value] of new URLSearchParams(search)) {
    if (!name.toLowerCase().startsWith("entity_ids")) continue;
    if (!ENTITY_IDS_NAME.test(name) || !v.is(EntityIdSchema, value)) {
      throw new AppError("param_invalid", "finch query entity_ids is not a list of entity ids");
    }
  }
}

/**
 * Finch endpoints the proxy refuses on purpose: POST /disconnect and /disconnect-entity would
 * end the connection (or some of its entities) at Finch while this edge kept the record as it
 * was (DELETE on the connection and POST .../entities/disconnect do both), and the
 * client-credential endpoints have no use for a connection's token.
 */
const RESERVED = [/^\/disconnect(-entity)?\/?$/i, /^\/auth(\/|$)/i, /^\/connect(\/|$)/i];

/** `decoded`: the path as finchTarget decoded it. */
export const isReservedPath = (decoded: string): boolean => RESERVED.some((r) => r.test(decoded));
