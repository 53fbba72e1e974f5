import { type ApiKey, parseApiKeys } from "./access/api-keys";
import type { EventDeadLetters } from "./app-events/dead-letters-object";
import { createKeyRing, type KeyRing } from "./crypto/keyring";
import type { Env } from "./env";
import { ConfigError } from "./errors";
import { DEFAULT_RATE_LIMITS, FINCH_RATE_MARGIN_MS, FINCH_RATE_WINDOW_MS } from "./finch/products";
import { fromBase64 } from "./lib/encoding";
import type { ReconcileCursor } from "./maintenance/reconcile-cursor";
import type { RateBudget } from "./rate-budget/object";
import type { TicketLedger } from "./ticket-ledger/object";

/**
 * Configuration, parsed once per isolate and per section. A route only touches the
 * sections it needs, so a deployment without webhooks does not fail on a missing
 * WEBHOOK_SECRETS. Errors name the setting and never echo its value.
 */
export const FINCH_API_VERSION = "2020-09-17";
export const PRODUCT = /^[a-z][a-z_]{0,39}$/;

export interface FinchSettings {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
}

export interface ConnectSettings {
  redirectUri: string;
  products: string[];
  sandbox: "finch" | "provider" | undefined;
  successUrl: string | undefined;
  errorUrl: string | undefined;
  allowedReturnOrigins: ReadonlySet<string>;
  /**
   * TICKET_BINDING_COOKIE: the app's session cookie, also sent to this Worker (one site), whose
   * SHA-256 a ticket's `bind` claim must carry. undefined: tickets must not carry `bind`.
   */
  bindingCookie: string | undefined;
  /** Cookies get Secure and the __Host- prefix when the callback is served over https. */
  secureCookies: boolean;
  /** CONNECT_SESSION_MINUTES: Finch's minutes_to_expire for every Connect session we create. */
  sessionMinutes: number;
}

/** The app-wide Finch rate budget (durable/rate-budget.ts). */
export interface RateBudgetSettings {
  /** FINCH_RATE_BUDGET=off turns it off (apps with raised limits); on by default. */
  enabled: boolean;
  /** Calls per window, per product: Finch's table with FINCH_RATE_LIMITS applied. */
  limits: Readonly<Record<string, number>>;
  /** How long a call holds its slot: Finch's window plus a margin for network delay. */
  windowMs: number;
  fairShare: number | undefined;
  /** FINCH_RATE_MAX_PAUSE_S: the longest a Finch 429 pauses the budget, and the longest Retry-After of ours. */
  maxPauseMs: number;
  /** FINCH_RATE_BUDGET_UNAVAILABLE: when the budget's object cannot be reached, refuse (closed) or send (open). */
  unavailable: "closed" | "open";
  /** Budgets are per Finch application: one object per client id and product. */
  scope: string;
  /** The RATE_BUDGET namespace; undefined when the budget is off. */
  ns: DurableObjectNamespace<RateBudget> | undefined;
}

/** Lifecycle events to the app (docs/events.md). Both ways are optional. */
export interface AppEventSettings {
  /** APP_EVENTS, the app's own Queue, when bound. */
  appQueue: Queue<unknown> | undefined;
  /** Signed HTTP delivery, when APP_WEBHOOK_URL is set: then the secret and both queues are required. */
  webhook:
    | { url: string; secret: { id: string; key: Uint8Array }; queue: Queue<unknown>; dlq: Queue<unknown> }
    | undefined;
}

/** The periodic re-introspection (src/domain/reconcile.ts). */
export interface ReconcileSettings {
  /** A connection whose status is older than this is introspected again. */
  afterMs: number;
  /** Writer calls (each at most one introspect at Finch) per Cron run; 0 turns it off. */
  maxPerRun: number;
  /** A run starts no writer call after this long; the next run continues from there. */
  budgetMs: number;
  /** RECONCILE_CURSOR: the position and the run lease; undefined only when reconciliation is off. */
  cursor: DurableObjectNamespace<ReconcileCursor> | undefined;
}

export interface Config {
  finch(): FinchSettings;
  connect(): ConnectSettings;
  ticketSecret(): string;
  keyRing(): KeyRing;
  kv(): KVNamespace;
  /** The ticket ledger's Durable Object namespace (one-time tickets). */
  tickets(): DurableObjectNamespace<TicketLedger>;
  /** The CONNECTION_WRITER binding is present (for /healthz). */
  connectionWriter(): true;
  rateBudget(): RateBudgetSettings;
  /** API_KEYS: bare keys (every scope and customer) or named, scoped keys (src/api-keys.ts). */
  apiKeys(): readonly ApiKey[];
  /** Decoded webhook HMAC keys, with the configured text as a stable cache id. */
  webhookSecrets(): readonly { id: string; key: Uint8Array }[];
  events(): Queue<unknown> | undefined;
  appEvents(): AppEventSettings;
  reconcile(): ReconcileSettings;
  /** Where dead-lettered app events wait for redelivery. */
  deadLetters(): DurableObjectNamespace<EventDeadLetters>;
  /** Every problem across all sections, for /healthz. Names only. */
  problems(): { setting: string; problem: string }[];
}

const required = (env: Env, name: keyof Env): string => {
  const value = env[name];
  if (typeof value !== "string" || value.trim() === "") throw new ConfigError(name, "is missing");
  return value.trim();
};

const optional = (env: Env, name: keyof Env): string | undefined => {
  const value = env[name];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
};

function httpUrl(name: string, value: string, opts: { allowPath: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, "is not an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError(name, "must be http(s)");
  if (url.username || url.password || url.hash) throw new ConfigError(name, "must not carry credentials or a fragment");
  if (!opts.allowPath && url.pathname !== "/" && url.pathname !== "") throw new ConfigError(name, "must be an origin");
  return url;
}

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

function parseFinch(env: Env): FinchSettings {
  const base = httpUrl("FINCH_API_BASE_URL", optional(env, "FINCH_API_BASE_URL") ?? "https://api.tryfinch.com", {
    allowPath: true,
  });
  const timeoutText = optional(env, "FINCH_TIMEOUT_MS");
  const timeoutMs = timeoutText === undefined ? 10_000 : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) {
    throw new ConfigError("FINCH_TIMEOUT_MS", "must be an integer between 100 and 60000");
  }
  return {
    baseUrl: base.href.replace(/\/+$/, ""),
    clientId: required(env, "FINCH_CLIENT_ID"),
    clientSecret: required(env, "FINCH_CLIENT_SECRET"),
    timeoutMs,
  };
}

/**
 * A Connect link should not outlive its purpose: Finch keeps a session open 90 days (30 for a
 * re-authentication) unless told otherwise. 129,600 minutes is Finch's own maximum.
 */
export const SESSION_MINUTES = { fallback: 60, max: 129_600 } as const;

/** Hosts where plain http is a local development setup, not a production mistake. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

function parseConnect(env: Env): ConnectSettings {
  const redirect = httpUrl("FINCH_REDIRECT_URI", required(env, "FINCH_REDIRECT_URI"), { allowPath: true });
  // Over http the flow cookies lose Secure and the __Host- prefix; anywhere but loopback that
  // would silently weaken them, so it is a configuration error instead.
  if (redirect.protocol === "http:" && !LOOPBACK_HOSTS.has(redirect.hostname)) {
    throw new ConfigError("FINCH_REDIRECT_URI", "must be https (http only on 127.0.0.1, localhost or [::1])");
  }
  const products = list(optional(env, "FINCH_PRODUCTS") ?? "company,directory");
  if (products.length === 0 || !products.every((p) => PRODUCT.test(p))) {
    throw new ConfigError("FINCH_PRODUCTS", "must be a comma-separated list of Finch product names");
  }
  const sandbox = optional(env, "FINCH_SANDBOX");
  if (sandbox !== undefined && sandbox !== "finch" && sandbox !== "provider") {
    throw new ConfigError("FINCH_SANDBOX", 'must be empty, "finch" or "provider"');
  }
  const successUrl = optional(env, "SUCCESS_URL");
  const errorUrl = optional(env, "ERROR_URL");
  const origins = new Set<string>();
  for (const origin of list(optional(env, "ALLOWED_RETURN_ORIGINS"))) {
    origins.add(httpUrl("ALLOWED_RETURN_ORIGINS", origin, { allowPath: false }).origin);
  }
  const bindingCookie = optional(env, "TICKET_BINDING_COOKIE");
  // A cookie name is an RFC 6265 token (what Hono's cookie helper reads); anything else could never be sent.
  if (bindingCookie !== undefined && !/^[\w!#$%&'*.^`|~+-]{1,128}$/.test(bindingCookie)) {
    throw new ConfigError(
      "TICKET_BINDING_COOKIE",
      "must be a cookie name (1-128 of A-Z a-z 0-9 ! # $ % & ' * . ^ _ ` | ~ + -)",
    );
  }
  return {
    redirectUri: redirect.href,
    products,
    sandbox,
    bindingCookie,
    successUrl: successUrl && httpUrl("SUCCESS_URL", successUrl, { allowPath: true }).href,
    errorUrl: errorUrl && httpUrl("ERROR_URL", errorUrl, { allowPath: true }).href,
    allowedReturnOrigins: origins,
    secureCookies: redirect.protocol === "https:",
    sessionMinutes: intSetting(env, "CONNECT_SESSION_MINUTES", SESSION_MINUTES.fallback, 1, SESSION_MINUTES.max),
  };
}

function parseTicketSecret(env: Env): string {
  const secret = required(env, "TICKET_SECRET");
  if (secret.length < 32) throw new ConfigError("TICKET_SECRET", "must be at least 32 characters");
  return secret;
}

function parseWebhookSecrets(env: Env): { id: string; key: Uint8Array }[] {
  return list(required(env, "WEBHOOK_SECRETS")).map((text, i) => {
    const key = fromBase64(text);
    if (!key || key.byteLength < 16) {
      throw new ConfigError("WEBHOOK_SECRETS", `entry ${i + 1} must be base64 of at least 16 bytes`);
    }
    return { id: text, key };
  });
}

function parseKv(env: Env): KVNamespace {
  const kv = env.CONNECTIONS;
  if (!kv || typeof kv.get !== "function") throw new ConfigError("CONNECTIONS", "KV binding is missing");
  return kv;
}

/** Checked here only so /healthz names it; writer/client.ts checks it again where it is used. */
function parseWriterBinding(env: Env): true {
  durableObject(env.CONNECTION_WRITER, "CONNECTION_WRITER");
  return true;
}

function parseTickets(env: Env): DurableObjectNamespace<TicketLedger> {
  return durableObject(env.TICKETS, "TICKETS");
}

function durableObject<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T> | undefined,
  name: string,
  hint = "",
): DurableObjectNamespace<T> {
  if (!ns || typeof ns.idFromName !== "function") {
    throw new ConfigError(name, `Durable Object binding is missing${hint}`);
  }
  return ns;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const queueBinding = (q: Queue<unknown> | undefined) => (q && typeof q.send === "function" ? q : undefined);

function parseAppEvents(env: Env): AppEventSettings {
  const appQueue = queueBinding(env.APP_EVENTS);
  const urlText = optional(env, "APP_WEBHOOK_URL");
  if (urlText === undefined) return { appQueue, webhook: undefined };
  const url = httpUrl("APP_WEBHOOK_URL", urlText, { allowPath: true });
  // Plain http only to this machine (npm start's receiver): events must not cross a network unencrypted.
  if (url.protocol !== "https:" && !LOOPBACK.has(url.hostname)) {
    throw new ConfigError("APP_WEBHOOK_URL", "must be https (http only for 127.0.0.1 or localhost)");
  }
  const secretText = required(env, "APP_WEBHOOK_SECRET");
  const key = fromBase64(secretText.startsWith("whsec_") ? secretText.slice("whsec_".length) : secretText);
  if (!key || key.byteLength < 16) {
    throw new ConfigError("APP_WEBHOOK_SECRET", "must be whsec_ followed by base64 of at least 16 bytes");
  }
  const queue = queueBinding(env.APP_WEBHOOK_QUEUE);
  if (!queue) throw new ConfigError("APP_WEBHOOK_QUEUE", "Queue binding is missing (needed for APP_WEBHOOK_URL)");
  const dlq = queueBinding(env.APP_WEBHOOK_DLQ);
  if (!dlq) throw new ConfigError("APP_WEBHOOK_DLQ", "Queue binding is missing (needed for APP_WEBHOOK_URL)");
  return { appQueue, webhook: { url: url.href, secret: { id: secretText, key }, queue, dlq } };
}

function parseDeadLetters(env: Env): DurableObjectNamespace<EventDeadLetters> {
  return durableObject(env.EVENT_DEAD_LETTERS, "EVENT_DEAD_LETTERS");
}

/**
 * Introspect is not in Finch's per-product rate table, but every call counts against the
 * per-IP limit (1,000 per 5 minutes) that the Worker shares with proxied calls. The default,
 * 20 a run on the every-10-minutes trigger, is about 1% of that.
 */
const RECONCILE_DEFAULTS = { afterHours: 24, maxPerRun: 20, budgetS: 30 } as const;

function intSetting(env: Env, name: keyof Env, fallback: number, min: number, max: number): number {
  const text = optional(env, name);
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function parseReconcile(env: Env): ReconcileSettings {
  const hours = intSetting(env, "RECONCILE_AFTER_HOURS", RECONCILE_DEFAULTS.afterHours, 1, 24 * 30);
  const maxPerRun = intSetting(env, "RECONCILE_MAX_PER_RUN", RECONCILE_DEFAULTS.maxPerRun, 0, 500);
  const budgetS = intSetting(env, "RECONCILE_TIME_BUDGET_S", RECONCILE_DEFAULTS.budgetS, 1, 600);
  const cursor =
    maxPerRun === 0
      ? undefined
      : durableObject(env.RECONCILE_CURSOR, "RECONCILE_CURSOR", " (or set RECONCILE_MAX_PER_RUN=0)");
  return { afterMs: hours * 3_600_000, maxPerRun, budgetMs: budgetS * 1000, cursor };
}

function parseRateBudget(env: Env): RateBudgetSettings {
  const mode = optional(env, "FINCH_RATE_BUDGET") ?? "on";
  if (mode !== "on" && mode !== "off") throw new ConfigError("FINCH_RATE_BUDGET", 'must be "on" or "off"');
  const limits: Record<string, number> = { ...DEFAULT_RATE_LIMITS };
  for (const entry of list(optional(env, "FINCH_RATE_LIMITS"))) {
    const match = /^([a-z][a-z-]{0,39})=([1-9][0-9]{0,8})$/.exec(entry);
    if (!match) throw new ConfigError("FINCH_RATE_LIMITS", "entries must look like product=requests_per_window");
    limits[match[1] as string] = Number(match[2]);
  }
  const windowS = intSetting(env, "FINCH_RATE_WINDOW_S", FINCH_RATE_WINDOW_MS / 1000, 1, 3600);
  const shareText = optional(env, "FINCH_RATE_FAIR_SHARE");
  const fairShare = shareText === undefined ? undefined : Number(shareText);
  if (fairShare !== undefined && !(fairShare > 0 && fairShare < 1)) {
    throw new ConfigError("FINCH_RATE_FAIR_SHARE", "must be a number between 0 and 1 (exclusive)");
  }
  const maxPauseS = intSetting(env, "FINCH_RATE_MAX_PAUSE_S", 3600, 1, 86_400);
  const unavailable = optional(env, "FINCH_RATE_BUDGET_UNAVAILABLE") ?? "closed";
  if (unavailable !== "closed" && unavailable !== "open") {
    throw new ConfigError("FINCH_RATE_BUDGET_UNAVAILABLE", 'must be "closed" or "open"');
  }
  const enabled = mode === "on";
  const ns = enabled ? durableObject(env.RATE_BUDGET, "RATE_BUDGET", " (or set FINCH_RATE_BUDGET=off)") : undefined;
  return {
    enabled,
    limits,
    // Slots are held longer than Finch's window: a call counts at Finch when it arrives.
    windowMs: windowS * 1000 + FINCH_RATE_MARGIN_MS,
    fairShare,
    maxPauseMs: maxPauseS * 1000,
    unavailable,
    scope: required(env, "FINCH_CLIENT_ID"),
    ns,
  };
}

/** Memoizes a section: the value, or the error it threw, for the isolate's lifetime. */
function once<T>(parse: () => T): () => T {
  let done = false;
  let value: T;
  let error: unknown;
  return () => {
    if (!done) {
      try {
        value = parse();
      } catch (e) {
        error = e;
      }
      done = true;
    }
    if (error !== undefined) throw error;
    return value;
  };
}

/**
 * Settings with no default. A section stops at its first error, so problems() also checks
 * each of these on its own: /healthz then lists every missing setting at once.
 */
const REQUIRED_SETTINGS = [
  "FINCH_CLIENT_ID",
  "FINCH_CLIENT_SECRET",
  "FINCH_REDIRECT_URI",
  "TICKET_SECRET",
  "ENCRYPTION_KEYS",
  "API_KEYS",
  "WEBHOOK_SECRETS",
] as const satisfies readonly (keyof Env)[];

const configs = new WeakMap<Env, Config>();

export function getConfig(env: Env): Config {
  let config = configs.get(env);
  if (config) return config;
  const sections = {
    finch: once(() => parseFinch(env)),
    connect: once(() => parseConnect(env)),
    ticketSecret: once(() => parseTicketSecret(env)),
    keyRing: once(() => createKeyRing(env.ENCRYPTION_KEYS)),
    kv: once(() => parseKv(env)),
    tickets: once(() => parseTickets(env)),
    connectionWriter: once(() => parseWriterBinding(env)),
    rateBudget: once(() => parseRateBudget(env)),
    apiKeys: once(() => parseApiKeys(env)),
    webhookSecrets: once(() => parseWebhookSecrets(env)),
    appEvents: once(() => parseAppEvents(env)),
    reconcile: once(() => parseReconcile(env)),
    deadLetters: once(() => parseDeadLetters(env)),
  };
  config = {
    ...sections,
    events: () => env.EVENTS,
    problems() {
      const found: { setting: string; problem: string }[] = [];
      const check = (parse: () => unknown) => {
        try {
          parse();
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          if (!found.some((f) => f.setting === e.setting && f.problem === e.problem)) {
            found.push({ setting: e.setting, problem: e.problem });
          }
        }
      };
      for (const name of REQUIRED_SETTINGS) check(() => required(env, name));
      for (const section of Object.values(sections)) check(section);
      return found;
    },
  };
  configs.set(env, config);
  return config;
}
