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
