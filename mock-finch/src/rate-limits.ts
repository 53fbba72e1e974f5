// Finch's per-application rate limits, modelled independently of the Worker's budget so tests
// can show the budget keeps an app under them: per product (each data endpoint), summed over
// every token, a request counting for 60 s from when it arrived; over the limit, 429 with
// finch_code finch_application_rl and no Retry-After (Finch's docs do not promise one).
import { FinchError } from "./http";

/** Finch's published table: requests per product per rolling minute. */
export const FINCH_LIMITS: Readonly<Record<string, number>> = {
  company: 20,
  directory: 20,
  individual: 20,
  employment: 20,
  "pay-statement-item": 20,
  payment: 12,
  "pay-groups": 12,
  "pay-statement": 12,
};

const PRODUCT_OF_PATH: Readonly<Record<string, string>> = {
  "/employer/company": "company",
  "/employer/directory": "directory",
  "/employer/individual": "individual",
  "/employer/employment": "employment",
  "/employer/payment": "payment",
  "/employer/pay-statement": "pay-statement",
  "/employer/pay-groups": "pay-groups",
  "/employer/pay-statement-item": "pay-statement-item",
};

export class RateLimiter {
  #limits: Readonly<Record<string, number>> | undefined;
  #windowMs = 60_000;
  readonly #arrivals = new Map<string, number[]>();

  constructor(private readonly now: () => number) {}

  /** Enforce these limits (Finch's table by default); undefined turns enforcement off. */
  set(limits: Readonly<Record<string, number>> | undefined, windowMs = 60_000): void {
    this.#limits = limits;
    this.#windowMs = windowMs;
    this.#arrivals.clear();
  }

  /** Counts a request to `path`; throws Finch's 429 when its product is over the limit. */
  check(path: string): void {
    const product = PRODUCT_OF_PATH[path.replace(/\/+$/, "")];
    const limit = product && this.#limits?.[product];
    if (!product || !limit) return;
    const now = this.now();
    const recent = (this.#arrivals.get(product) ?? []).filter((at) => at + this.#windowMs > now);
    if (recent.length >= limit) {
      this.#arrivals.set(product, recent);
      throw new FinchError(
        429,
        "rate_limit_exceeded_error",
        "Too many requests for application",
        "finch_application_rl",
      );
    }
    recent.push(now);
    this.#arrivals.set(product, recent);
  }
}
