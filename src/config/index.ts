import { type ApiKey, parseApiKeys } from "../access/api-keys";
import { createKeyRing, type KeyRing } from "../crypto/keyring";
import type { Binding, Env } from "../env";
import { ConfigError } from "../errors";
import type { FinchSettings } from "../finch/http";
import { parseKv, parseTickets, parseWriterBinding } from "./bindings";
import { type ConnectSettings, parseConnect, parseTicketSecret } from "./connect";
import { type AppEventSettings, parseAppEvents, parseDeadLetters, parseWebhookSecrets } from "./events";
import { parseFinch } from "./finch";
import { parseRateBudget, type RateBudgetSettings } from "./rate-budget";
import { required } from "./read";
import { parseReconcile, type ReconcileSettings } from "./reconcile";

export type { FinchSettings } from "../finch/http";
export type { ConnectSettings } from "./connect";
export type { AppEventSettings } from "./events";
export type { RateBudgetSettings } from "./rate-budget";
export type { ReconcileSettings } from "./reconcile";

/**
 * Configuration, parsed once per isolate and per section. A route only touches the
 * sections it needs, so a deployment without webhooks does not fail on a missing
 * WEBHOOK_SECRETS. Errors name the setting and never echo its value.
 */
export interface Config {
  finch(): FinchSettings;
  connect(): ConnectSettings;
  ticketSecret(): string;
  keyRing(): KeyRing;
  kv(): KVNamespace;
  /** The ticket ledger's Durable Object namespace (one-time tickets). */
  tickets(): Binding<"TICKETS">;
  /** The CONNECTION_WRITER binding is present (for /healthz). */
  connectionWriter(): true;
  rateBudget(): RateBudgetSettings;
  /** API_KEYS: bare keys (every scope and customer) or named, scoped keys (src/access/api-keys.ts). */
  apiKeys(): readonly ApiKey[];
  /** Decoded webhook HMAC keys, with the configured text as a stable cache id. */
  webhookSecrets(): readonly { id: string; key: Uint8Array }[];
  events(): Queue<unknown> | undefined;
  appEvents(): AppEventSettings;
  reconcile(): ReconcileSettings;
  /** Where dead-lettered app events wait for redelivery. */
  deadLetters(): Binding<"EVENT_DEAD_LETTERS">;
  /** Every problem across all sections, for /healthz. Names only. */
  problems(): { setting: string; problem: string }[];
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
