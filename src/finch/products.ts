/**
 * Finch's per-application rate limits. Finch counts requests per product (each data endpoint
 * is a product) across every access token of one application (client_id), in a rolling
 * 60-second window. The table is Finch's published one ("Rate Limits" in Finch's developer
 * documentation); FINCH_RATE_LIMITS overrides entries for applications with raised limits.
 * Endpoints not in the table (introspect, providers, sandbox, benefits, ...) are not budgeted.
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, number>> = {
  company: 20,
  directory: 20,
  individual: 20,
  employment: 20,
  "pay-statement-item": 20,
  payment: 12,
  "pay-groups": 12,
  "pay-statement": 12,
};

/** Finch's window. */
export const FINCH_RATE_WINDOW_MS = 60_000;

/**
 * How long a sent call may take to reach Finch, where it starts to count: a slot is held this
 * much longer than Finch's window. The budget's guarantee assumes no call takes longer (every
 * other delay, to the object, back, and the token read, is covered whatever its length:
 * rate-budget/lease.ts). 5 s covers a lost TCP SYN and its retransmission.
 */
export const FINCH_RATE_MARGIN_MS = 5_000;

/** Finch's penalty after its per-IP limit (429 finch_api_ip_rl), when its 429 says no Retry-After. */
export const FINCH_IP_PENALTY_MS = 60 * 60_000;

const ENDPOINTS: readonly (readonly [RegExp, string])[] = [
  [/^\/employer\/company\/?$/, "company"],
  [/^\/employer\/directory\/?$/, "directory"],
  [/^\/employer\/individual\/?$/, "individual"],
  [/^\/employer\/employment\/?$/, "employment"],
  [/^\/employer\/payment\/?$/, "payment"],
  [/^\/employer\/pay-statement\/?$/, "pay-statement"],
  [/^\/employer\/pay-groups(\/[^/]+)?\/?$/, "pay-groups"],
  [/^\/employer\/pay-statement-item(\/[^/]+)?\/?$/, "pay-statement-item"],
];

/** The product a Finch API path counts against (path decoded, below the base URL), if any. */
export function productOf(path: string): string | undefined {
  for (const [pattern, product] of ENDPOINTS) if (pattern.test(path)) return product;
  return undefined;
}

/** A Finch product name, as the app configures and requests it. */
export const PRODUCT = /^[a-z][a-z_]{0,39}$/;
