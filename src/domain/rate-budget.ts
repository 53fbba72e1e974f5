/**
 * The app-wide budget for one Finch product: a sliding log of the calls let through in the
 * window. It lives in one Durable Object per product (durable/rate-budget.ts), so every
 * location and every connection of the app draws from the same count. Pure: the clock is an
 * argument, so window edges are tested exactly.
 */
export interface BudgetRequest {
  connectionId: string;
  /** Calls allowed in any window. */
  limit: number;
  /** The window a call holds its slot for (Finch's window plus a safety margin). */
  windowMs: number;
  /** 0 < share < 1: the most one connection may hold while others wait; undefined: no cap. */
  fairShare?: number | undefined;
}

export type BudgetDecision = { ok: true } | { ok: false; retryAfterMs: number; reason: "spent" | "paused" | "fair" };

interface Slot {
  at: number;
  connectionId: string;
}

export class SlidingWindow {
  /** Calls let through, oldest first. */
  #slots: Slot[] = [];
  #pausedUntil = 0;
  /** Connections refused recently: connection id -> when. */
  #waiting = new Map<string, number>();

  acquire(now: number, req: BudgetRequest): BudgetDecision {
    this.#prune(now, req.windowMs);
    if (now < this.#pausedUntil) return this.#refuse(now, req, this.#pausedUntil - now, "paused");
    if (this.#slots.length >= req.limit) {
      // The oldest slot frees first; `at + windowMs` is the first instant it no longer counts.
      return this.#refuse(now, req, (this.#slots[0] as Slot).at + req.windowMs - now, "spent");
    }
    if (req.fairShare !== undefined && this.#othersWaiting(now, req)) {
      const mine = this.#slots.filter((s) => s.connectionId === req.connectionId);
      const cap = Math.max(1, Math.floor(req.limit * req.fairShare));
      if (mine.length >= cap) return this.#refuse(now, req, (mine[0] as Slot).at + req.windowMs - now, "fair");
    }
    this.#slots.push({ at: now, connectionId: req.connectionId });
    this.#waiting.delete(req.connectionId);
    return { ok: true };
  }

  /** Finch answered 429 for this product: nobody gets a slot until `now + ms`. */
  pause(now: number, ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, now + Math.max(0, ms));
  }

  #prune(now: number, windowMs: number): void {
    let expired = 0;
    while (expired < this.#slots.length && (this.#slots[expired] as Slot).at + windowMs <= now) expired++;
    if (expired > 0) this.#slots.splice(0, expired);
    for (const [id, at] of this.#waiting) if (at + windowMs <= now) this.#waiting.delete(id);
  }

  #othersWaiting(now: number, req: BudgetRequest): boolean {
    for (const [id, at] of this.#waiting) if (id !== req.connectionId && at + req.windowMs > now) return true;
    return false;
  }

  #refuse(now: number, req: BudgetRequest, waitMs: number, reason: "spent" | "paused" | "fair"): BudgetDecision {
    this.#waiting.set(req.connectionId, now);
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(waitMs)), reason };
  }
}
