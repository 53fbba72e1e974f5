/**
 * The Worker's bindings, exactly as wrangler.toml and `wrangler secret put` provide them.
 * Everything is optional at the type level on purpose: config.ts validates presence and
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
  SUCCESS_URL?: string;
  ERROR_URL?: string;
  ALLOWED_RETURN_ORIGINS?: string;
  // Bindings
  CONNECTIONS?: KVNamespace;
  EVENTS?: Queue<unknown>;
  /** One writer per connection (src/writer/object.ts): the only writer of its KV entries. */
  CONNECTION_WRITER?: DurableObjectNamespace;
}
