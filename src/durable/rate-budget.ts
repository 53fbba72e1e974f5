import { DurableObject } from "cloudflare:workers";
import { type BudgetDecision, type BudgetRequest, SlidingWindow } from "../domain/rate-budget";

/**
 * One Finch product's budget for the whole app (one object per application and product).
 * The window lives in memory: an object is only evicted after it has been idle, by which time
 * its window is empty anyway. A restart (deploy, move) forgets the last minute; Finch's own
 * 429s still pass through to the caller and pause the budget, so the worst case is a few
 * refused calls, never a token or status lost.
 */
export class RateBudget extends DurableObject {
  readonly #window = new SlidingWindow();

  acquire(req: BudgetRequest): BudgetDecision {
    return this.#window.acquire(Date.now(), req);
  }

  pause(ms: number): void {
    this.#window.pause(Date.now(), ms);
  }
}
