import { AppError } from "../errors";
import { FINCH_IP_PENALTY_MS, FINCH_RATE_WINDOW_MS } from "../finch/products";
import { retryAfterMs } from "../lib/retry-after";
import type { Trace } from "../lib/trace";
import { type Ask, type CallSlot, LEASE_HOLD_MS } from "./lease";
import type { BudgetDecision } from "./window";

/**
 * A proxied call's slot, asked for while its token is read (the two run in parallel: the slot
 * is the one Durable Object request a proxied call makes, and waiting for KV first would add
 * its latency to every call). The call then `use`s it once the token is in hand, or `cancel`s
 * it when it will not go to Finch (an unknown connection, a failed read): only calls that
 * reach Finch spend the budget. The steps are rate-budget/lease.ts's `CallSlot`.
 */

/** The app-wide Finch rate budget as the proxy sees it (rate-budget/slot.ts). */
export interface RateBudgetPort {
  budgeted(product: string): boolean;
  /** Starts asking for a slot for one call to `product`. */
  slot(product: string, connectionId: string): PendingSlot;
  /** Finch answered 429: hold every call to `product` (to every product when undefined) for `ms`. */
  pause(product: string | undefined, ms: number): Promise<void>;
  /** FINCH_RATE_MAX_PAUSE_S in ms: the longest pause a Finch 429 may cause. */
  readonly maxPauseMs: number;
}

/** The product's budget object, as the port reaches it (rate-budget/slot.ts). */
export interface BudgetObject {
  /** Rejects when the object cannot be reached. */
  acquire(ask: Ask): Promise<BudgetDecision>;
  release(grant: number): Promise<void>;
}

export interface SlotPolicy {
  /** FINCH_RATE_BUDGET_UNAVAILABLE: refuse (closed) or send without a slot (open). */
  unavailable: "closed" | "open";
  /** FINCH_RATE_MAX_PAUSE_S in ms: no Retry-After of ours says more. */
  maxPauseMs: number;
}

/** What a caller is told to wait when the budget's object cannot be reached or is too slow. */
export const UNAVAILABLE_RETRY_MS = 2_000;

const UNREACHABLE = Symbol("unreachable");
type Answer = BudgetDecision | typeof UNREACHABLE;

export class PendingSlot {
  #ask: Ask | undefined;
  #answer: Promise<Answer> | undefined;

  constructor(
    private readonly product: string,
    private readonly object: BudgetObject,
    private readonly slot: CallSlot,
    private readonly policy: SlotPolicy,
    now = Date.now(),
  ) {
    const ask = slot.start(now);
    if (ask) this.#send(ask);
  }

  /**
   * The token is in hand: returns when the call may go to Finch. Throws 429
   * finch_budget_exhausted when the budget refuses, 503 finch_budget_unavailable when its
   * object cannot be reached (unless FINCH_RATE_BUDGET_UNAVAILABLE=open).
   */
  async use(trace: Trace): Promise<void> {
    for (;;) {
      if (this.#answer) {
        const answer = await this.#answer;
        this.#answer = undefined;
        if (answer === UNREACHABLE) return this.#unavailable(trace, "unreachable");
        const refused = this.slot.answered(this.#ask as Ask, answer);
        if (refused) throw budgetExhausted(this.product, refused, this.policy.maxPauseMs);
      }
      const next = this.slot.ready(Date.now());
      if (next.kind === "send") return;
      if (next.kind === "late") {
        await this.#release(next.giveBack, trace);
        return this.#unavailable(trace, `answered later than its ${LEASE_HOLD_MS} ms hold`);
      }
      trace.notes.push(`${this.product} slot went stale before the call was ready: asked again`);
      this.#send(next.ask);
    }
  }

  /** The call will not go to Finch: its slot stops counting (once the object has answered). */
  async cancel(trace: Trace): Promise<void> {
    if (this.#answer) {
      const answer = await this.#answer;
      this.#answer = undefined;
      if (answer !== UNREACHABLE) this.slot.answered(this.#ask as Ask, answer);
    }
    await this.#release(this.slot.cancel(Date.now()), trace);
  }

  #send(ask: Ask): void {
    this.#ask = ask;
    this.#answer = this.object.acquire(ask).catch(() => UNREACHABLE);
  }

  async #release(grant: number | undefined, trace: Trace): Promise<void> {
    if (grant === undefined) return;
    // A slot that could not be given back only keeps the budget stricter until it frees.
    await this.object.release(grant).catch(() => void trace.notes.push(`${this.product} slot not given back`));
  }

  #unavailable(trace: Trace, why: string): void {
    if (this.policy.unavailable === "open") {
      trace.notes.push(
        `${this.product} budget unreachable (${why}): sent without a slot, FINCH_RATE_BUDGET_UNAVAILABLE=open`,
      );
      return;
    }
    const ms = Math.min(UNAVAILABLE_RETRY_MS, this.policy.maxPauseMs);
    throw new AppError("finch_budget_unavailable", `${this.product} budget ${why}`, { headers: retryHeaders(ms) });
  }
}

/** Our own 429: Finch is not called; Retry-After says when the first slot frees (at most maxPauseMs). */
export function budgetExhausted(
  product: string,
  refused: Extract<BudgetDecision, { ok: false }>,
  maxPauseMs: number,
): AppError {
  const ms = Math.min(refused.retryAfterMs, maxPauseMs);
  return new AppError("finch_budget_exhausted", `${product} budget ${refused.reason}, retry in ${ms} ms`, {
    headers: retryHeaders(ms),
  });
}

const retryHeaders = (ms: number) => ({ "Retry-After": String(Math.ceil(ms / 1000)), "retry-after-ms": String(ms) });

/**
 * Finch answered 429. Its per-application limit (`finch_application_rl`, or no code) holds the
 * product for the whole app; its per-IP limit (`finch_api_ip_rl`: about 1,000 calls in 5
 * minutes, then a 60-minute penalty) holds every product, whichever endpoint saw it. For
 * Finch's Retry-After, or its window (its penalty) without one, but never longer than
 * FINCH_RATE_MAX_PAUSE_S: a Retry-After of a week must not stop the app for a week.
 */
export async function finch429Pause(
  budget: RateBudgetPort,
  product: string | undefined,
  finchCode: string | undefined,
  headers: Headers,
  trace: Trace,
): Promise<void> {
  const perIp = finchCode === "finch_api_ip_rl";
  if (!perIp && product === undefined) return;
  const asked = retryAfterMs(headers, Date.now()) ?? (perIp ? FINCH_IP_PENALTY_MS : FINCH_RATE_WINDOW_MS);
  const wait = Math.min(asked, budget.maxPauseMs);
  trace.notes.push(`finch 429 (${perIp ? "per IP" : product}): budget paused ${Math.ceil(wait / 1000)} s`);
  await budget.pause(perIp ? undefined : product, wait).catch(() => void trace.notes.push("budget pause failed"));
}
