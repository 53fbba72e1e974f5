import type { EventDeadLetters } from "./app-events/dead-letters-object";
import type { ReconcileCursor } from "./maintenance/reconcile-cursor";
import type { RateBudget } from "./rate-budget/object";
import type { TicketLedger } from "./ticket-ledger/object";

/**
 * The Worker's bindings, exactly as wrangler.toml and `wrangler secret put` provide them.
 * Everything is optional at the type level on purpose: config/ validates presence and
 * shape once per isolate and names the missing setting, instead of trusting the type.
 */
export interface Env {
  // Secrets
  FINCH_CLIENT_ID?: string;
  FINCH_CLIENT_SECRET?: string;
  TICKET_SECRET?: string;
  ENCRYPTION_KEYS?: string;
  API_KEYS?: string;
  WEBHOOK_SECRETS?: string;
  // Vars
  FINCH_API_BASE_URL?: string;
  FINCH_REDIRECT_URI?: string;
  FINCH_PRODUCTS?: string;
  FINCH_SANDBOX?: string;
  FINCH_TIMEOUT_MS?: string;
  /** Finch's minutes_to_expire for Connect sessions (1..129600, default 60). */
  CONNECT_SESSION_MINUTES?: string;
  SUCCESS_URL?: string;
  ERROR_URL?: string;
  ALLOWED_RETURN_ORIGINS?: string;
  /** The app's session cookie a ticket's `bind` claim must match (optional; docs/security.md). */
  TICKET_BINDING_COOKIE?: string;
  FINCH_RATE_BUDGET?: string;
  FINCH_RATE_LIMITS?: string;
  FINCH_RATE_WINDOW_S?: string;
  FINCH_RATE_FAIR_SHARE?: string;
  /** The longest pause a Finch 429 causes, in seconds (default 3600). */
  FINCH_RATE_MAX_PAUSE_S?: string;
  /** "closed" (default) or "open": what a proxied call does when the budget's object cannot be reached. */
  FINCH_RATE_BUDGET_UNAVAILABLE?: string;
  /** Signed lifecycle webhooks to the app (docs/events.md); both optional. */
  APP_WEBHOOK_URL?: string;
  APP_WEBHOOK_SECRET?: string;
  /** The Cron Trigger's re-introspection (src/maintenance/reconcile.ts); all optional. */
  RECONCILE_AFTER_HOURS?: string;
  RECONCILE_MAX_PER_RUN?: string;
  RECONCILE_TIME_BUDGET_S?: string;
  // Bindings
  CONNECTIONS?: KVNamespace;
  EVENTS?: Queue<unknown>;
  /** One-time tickets: a Durable Object per ticket id (src/ticket-ledger/). */
  TICKETS?: DurableObjectNamespace<TicketLedger>;
  /** The app-wide Finch rate budget: a Durable Object per product (src/rate-budget/). */
  RATE_BUDGET?: DurableObjectNamespace<RateBudget>;
  /** Lifecycle events for Workers on the same account (optional; docs/events.md). */
  APP_EVENTS?: Queue<unknown>;
  /** Internal: deliveries to APP_WEBHOOK_URL, and the ones that failed for good. */
  APP_WEBHOOK_QUEUE?: Queue<unknown>;
  APP_WEBHOOK_DLQ?: Queue<unknown>;
  /** Dead-lettered app events kept for `POST /api/events/redeliver` (src/app-events/dead-letters-object.ts). */
  EVENT_DEAD_LETTERS?: DurableObjectNamespace<EventDeadLetters>;
  /** One writer per connection (src/writer/object.ts): the only writer of its KV entries. */
  CONNECTION_WRITER?: DurableObjectNamespace;
  /** The reconciliation's position and run lease: one object (src/maintenance/reconcile-cursor.ts). */
  RECONCILE_CURSOR?: DurableObjectNamespace<ReconcileCursor>;
}

/** A binding as the code uses it once config/ has checked it is there. */
export type Binding<K extends keyof Env> = NonNullable<Env[K]>;
