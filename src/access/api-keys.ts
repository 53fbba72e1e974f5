import * as v from "valibot";
import type { Env } from "../env";
import { ConfigError } from "../errors";

/**
 * The API_KEYS setting, in either of its two forms:
 * - comma-separated bare keys (`new,old`): each has every scope and every customer, as always;
 * - a JSON array (the value starts with `[`) of named keys, each optionally limited to scopes
 *   and to customers: `[{"name":"billing","key":"…","scopes":["connections:read"],"customers":["acme"]}]`.
 * Problems name the setting and the entry's index, never a key, a name or any other text of it.
 */

/** What a key may do; which operation needs which scope is src/access/principal.ts. */
export const SCOPES = ["connections:read", "connections:write", "proxy", "token", "events", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Scopes that act on every customer at once (re-encryption, redelivery of any event): a key
 * limited to customers cannot hold them. Without `scopes`, such a key has all the others.
 */
export const EVERY_CUSTOMER_SCOPES: ReadonlySet<Scope> = new Set<Scope>(["events", "admin"]);

export interface ApiKey {
  /** The key's name (not secret: it is logged and recorded); undefined for a bare key. */
  name: string | undefined;
  key: string;
  scopes: ReadonlySet<Scope>;
  /** Only these customers' connections; undefined for every customer. */
  customers: ReadonlySet<string> | undefined;
}

/** The Bearer token alphabet (RFC 6750): a key outside it could never be presented. */
const KEY_CHARS = /^[A-Za-z0-9._~+/-]+=*$/;
const MIN_KEY_LENGTH = 24;
/** Printable, short, no spaces: a name is an identifier in log lines and the audit trail. */
export const KEY_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** A customer id as tickets and imports carry it (1–255 characters), without control characters. */
const CUSTOMER_ID = /^[\x20-\x7e\u00a0-\uffff]{1,255}$/;

const KeySchema = v.pipe(v.string(), v.minLength(MIN_KEY_LENGTH), v.regex(KEY_CHARS));

const EntrySchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(KEY_NAME)),
  key: KeySchema,
  scopes: v.optional(v.pipe(v.array(v.picklist(SCOPES)), v.minLength(1))),
  customers: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(CUSTOMER_ID))), v.minLength(1))),
});

/** What is wrong with one field, in fixed words (the field's value is never repeated). */
const FIELD_PROBLEMS: Record<string, string> = {
  name: "name must be 1-64 of a-z 0-9 _ . - (starting with a letter or digit)",
  key: `key must be at least ${MIN_KEY_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / - (and trailing =)`,
  scopes: `scopes must be a non-empty list of: ${SCOPES.join(", ")}`,
  customers: "customers must be a non-empty list of customer ids (1-255 printable characters)",
};

function entryProblem(issue: v.BaseIssue<unknown> | undefined): string {
  const field = issue?.path?.[0]?.key;
  if (issue?.kind === "schema" && issue.type === "strict_object" && typeof field === "string") {
    if (!(field in FIELD_PROBLEMS)) return "has an unknown field (allowed: name, key, scopes, customers)";
  }
  if (typeof field === "string" && field in FIELD_PROBLEMS) {
    return issue?.input === undefined && (field === "name" || field === "key")
      ? `${field} is missing`
      : (FIELD_PROBLEMS[field] as string);
  }
  return "must be an object with name, key and optional scopes and customers";
}

function parseBare(text: string): ApiKey[] {
  const keys = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (keys.some((k) => k.length < MIN_KEY_LENGTH)) {
    throw new ConfigError("API_KEYS", `entries must be at least ${MIN_KEY_LENGTH} characters`);
  }
  if (keys.some((k) => !KEY_CHARS.test(k))) {
    throw new ConfigError("API_KEYS", "entries may only use A-Z a-z 0-9 . _ ~ + / - (and trailing =)");
  }
  const every = new Set(SCOPES);
  return keys.map((key) => ({ name: undefined, key, scopes: every, customers: undefined }));
}

function parseNamed(text: string): ApiKey[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error: it could hold a key.
    throw new ConfigError("API_KEYS", "starts with [ but is not valid JSON");
  }
  if (!Array.isArray(json) || json.length === 0) {
    throw new ConfigError("API_KEYS", "must be a non-empty JSON array of keys");
  }
  const names = new Set<string>();
  const secrets = new Set<string>();
  return json.map((item, i): ApiKey => {
    const parsed = v.safeParse(EntrySchema, item);
    if (!parsed.success) throw new ConfigError("API_KEYS", `entry [${i}]: ${entryProblem(parsed.issues[0])}`);
    const entry = parsed.output;
    if (names.has(entry.name)) throw new ConfigError("API_KEYS", `entry [${i}]: name is used by an earlier entry`);
    if (secrets.has(entry.key)) throw new ConfigError("API_KEYS", `entry [${i}]: key is used by an earlier entry`);
    names.add(entry.name);
    secrets.add(entry.key);
    const customers = entry.customers && new Set(entry.customers);
    if (customers && entry.scopes?.some((s) => EVERY_CUSTOMER_SCOPES.has(s))) {
      throw new ConfigError("API_KEYS", `entry [${i}]: a key limited to customers cannot have events or admin`);
    }
    const scopes = entry.scopes ?? SCOPES.filter((s) => !(customers && EVERY_CUSTOMER_SCOPES.has(s)));
    return { name: entry.name, key: entry.key, scopes: new Set(scopes), customers };
  });
}

export function parseApiKeys(env: Env): ApiKey[] {
  const value = env.API_KEYS;
  if (typeof value !== "string" || value.trim() === "") throw new ConfigError("API_KEYS", "is missing");
  const text = value.trim();
  return text.startsWith("[") ? parseNamed(text) : parseBare(text);
}
