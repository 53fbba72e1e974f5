/**
 * The product's error vocabulary. Every failure a caller can see has a stable machine
 * code from this table; http/error-response.ts is the one place that turns it into a
 * response. `detail` is for the log only and must never hold a secret or a token.
 */
export const ERRORS = {
  // Configuration (operator mistakes)
  config_invalid: { status: 500, message: "The service is not configured correctly." },
  // Tickets and Connect start
  ticket_missing: { status: 400, message: "A ticket is required." },
  ticket_malformed: { status: 400, message: "The ticket is not a well-formed token." },
  ticket_invalid: { status: 401, message: "The ticket could not be verified." },
  ticket_expired: { status: 401, message: "The ticket has expired." },
  ticket_lifetime_too_long: { status: 400, message: "The ticket is valid for too long." },
  ticket_claims_invalid: { status: 400, message: "The ticket's claims are invalid." },
  return_to_not_allowed: { status: 400, message: "The return address is not allowed." },
  ticket_used: {
    status: 409,
    message: "This Connect link was already used in another browser. Ask the app for a new link.",
  },
  ticket_not_bound: {
    status: 403,
    message: "This Connect link was made for another signed-in session. Open it from the app where you are signed in.",
  },
  // Callback
  param_invalid: { status: 400, message: "A request parameter is missing, repeated or malformed." },
  state_missing: { status: 400, message: "The Connect state is missing." },
  state_mismatch: { status: 403, message: "The Connect state does not match this browser." },
  code_missing: { status: 400, message: "Finch did not return an authorization code." },
  connect_cancelled: { status: 400, message: "Connect was cancelled or denied." },
  customer_mismatch: { status: 403, message: "The connection belongs to a different customer." },
  connection_mismatch: { status: 403, message: "Finch returned a different connection than requested." },
  // Finch upstream
  finch_invalid_grant: { status: 400, message: "The authorization code is invalid, used or expired." },
  finch_invalid_client: { status: 502, message: "Finch rejected this service's client credentials." },
  finch_rejected: { status: 502, message: "Finch rejected the request." },
  finch_unavailable: { status: 502, message: "Finch is unavailable." },
  finch_rate_limited: { status: 503, message: "Finch is rate limiting requests; try again later." },
  finch_timeout: { status: 504, message: "Finch did not answer in time." },
  finch_bad_response: { status: 502, message: "Finch answered with an unexpected response." },
  finch_reauthenticate: { status: 409, message: "The connection must be re-authenticated." },
  finch_sync_limited: {
    status: 429,
    message: "Finch allows one forced data refresh an hour per connection; retry after the Retry-After delay.",
  },
  sandbox_rejected: {
    status: 422,
    message: "Finch's sandbox refused to create the connection (for example, an unknown provider).",
  },
  entity_not_found: { status: 404, message: "Finch does not know one of these entities for this connection." },
  finch_budget_exhausted: {
    status: 429,
    message: "This app's Finch rate budget for the product is spent; retry after the Retry-After delay.",
  },
  finch_budget_unavailable: {
    status: 503,
    message:
      "This app's Finch rate budget cannot be reached, so Finch was not called; retry after the Retry-After delay.",
  },
  // API
  unauthorized: { status: 401, message: "A valid API key is required." },
  scope_missing: { status: 403, message: "This API key does not have the scope this operation needs." },
  customer_not_allowed: { status: 403, message: "This API key is not allowed to act for this customer." },
  not_found: { status: 404, message: "Not found." },
  connection_not_found: { status: 404, message: "No such connection." },
  connection_disconnected: {
    status: 409,
    message: "This connection was disconnected here; the employer must connect again through Connect.",
  },
  token_rejected: { status: 422, message: "Finch does not accept this access token." },
  method_not_allowed: { status: 405, message: "Method not allowed." },
  proxy_path_reserved: {
    status: 400,
    message: "This Finch endpoint is not available through the proxy; use the connection API.",
  },
  body_too_large: { status: 413, message: "The request body is too large." },
  body_invalid: { status: 400, message: "The request body is invalid." },
  cookie_too_large: { status: 431, message: "The Cookie header is too large." },
  // Webhooks
  webhook_signature_missing: { status: 400, message: "The webhook signature headers are missing." },
  webhook_signature_invalid: { status: 401, message: "The webhook signature does not verify." },
  webhook_timestamp_invalid: { status: 401, message: "The webhook timestamp is outside the allowed window." },
  webhook_body_invalid: { status: 400, message: "The webhook body is invalid." },
  // App events
  event_queue_unavailable: { status: 503, message: "The event queue is unavailable; try again." },
  // Storage
  storage_unavailable: { status: 503, message: "Storage is unavailable; try again." },
  record_unreadable: { status: 500, message: "A stored record could not be read." },
  internal_error: { status: 500, message: "Something went wrong." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** V8's (and so workerd's) Error, with the stack-depth setting the standard library types leave out. */
const V8Error = Error as ErrorConstructor & { stackTraceLimit?: number };

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Log-only context. Never a secret, token, code or ticket. */
  readonly detail: string | undefined;
  /** Extra response headers (e.g. Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string> | undefined;
  /**
   * A sentence the caller may see after the generic message (e.g. which ticket claim to fix).
   * Only names and fixed words: never a value the caller sent, a secret or a token.
   */
  readonly expose: string | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { headers?: Record<string, string>; cause?: unknown; expose?: string },
  ) {
    // No stack trace: an AppError is an answer (a 4xx, or a 5xx with its code), never printed
    // with a stack, and capturing one walks every frame of the Hono chain above the throw
    // (bench/profile.mjs). Bugs are other errors and keep theirs.
    const limit = V8Error.stackTraceLimit;
    V8Error.stackTraceLimit = 0;
    try {
      super(ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    } finally {
      V8Error.stackTraceLimit = limit;
    }
    this.name = "AppError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
    this.headers = options?.headers;
    this.expose = options?.expose;
  }
}

/** A setting is missing or malformed. The message names the setting, never its value. */
export class ConfigError extends AppError {
  readonly setting: string;
  readonly problem: string;
  constructor(setting: string, problem: string) {
    super("config_invalid", `${setting} ${problem}`);
    this.setting = setting;
    this.problem = problem;
  }
}

/**
 * What a caller is told about an error (HTTP body, RPC error): the generic message, the
 * setting a configuration error names (never its value), and the error's `expose` sentence.
 */
export function publicMessage(error: AppError): string {
  const message = error instanceof ConfigError ? `${error.message} ${error.setting} ${error.problem}.` : error.message;
  return error.expose ? `${message} ${error.expose}` : message;
}

/** The body of every error answer (HTTP, and RPC fetchFinch's budget 429): docs/errors.md. */
export function errorBody(error: AppError, requestId: string) {
  return { error: { code: error.code, message: publicMessage(error), request_id: requestId } };
}

/** Anything thrown, as an AppError: what is not one is a bug, reported as internal_error (by class name only). */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError("internal_error", err instanceof Error ? err.name : "non-error thrown");
}
