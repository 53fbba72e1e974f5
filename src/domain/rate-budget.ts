/**
 * The app-wide budget for one Finch product: a sliding log of the calls let through in the
 * window. It lives in one Durable Object per product (durable/rate-budget.ts), so every
 * location and every connection of the app draws from the same count. Pure: the clock is an
 * argument, so window edges are tested exactly.
 *
 * A request may ask for several slots at once (a lease, domain/rate-lease.ts): an isolate that
 * calls a product often then asks the object once per lease instead of once per call. The
 * slots of a lease are counted when they are granted, and as if used at the end of the lease's
 * hold (the latest moment the isolate may use them), so a lease never lets more calls reach
 * Finch in any window than a call-by-call budget would.
 */
export interface BudgetRequest {
  connectionId: string;
  /** Calls allowed in any window. */
  limit: number;
  /** The window a call holds its slot for (Finch's window plus a safety margin). */
  windowMs: number;
  /** 0 < share < 1: the most one connection may hold while others wait; undefined: no cap. */
  fairShare?: number | undefined;
  /** Slots wanted (a lease); 1 when absent. At most `leaseCap(limit)` are granted. */
  want?: number | undefined;
  /** How long the caller may hold the slots beyond the first before using them. */
  holdMs?: number | undefined;
}

export type BudgetDecision =
  | { ok: true; granted: number }
  | { ok: false; retryAfterMs: number; reason: "spent" | "paused" | "fair" };

/**
 * The most slots one lease may take: a 64th of the product's limit. At Finch's default limits
 * (20 or 12 a minute) that is 1, so every call asks the object and nothing is ever held unused;
 * leases only pay, and only happen, for applications whose limits Finch has raised.
 */
export const LEASE_DIVISOR = 64;
export const leaseCap = (limit: number) => Math.max(1, Math.floor(limit / LEASE_DIVISOR));

interface Slots {
  /** When these slots stop counting, minus windowMs: the call's time, or a lease's last moment. */
  at: number;
  connectionId: string;
  n: number;
}

export class SlidingWindow {
  /** Slots let through, ordered by `at`. */
  #slots: Slots[] = [];
  #used = 0;
  /** The same slots per connection (also ordered by `at`) and their count: fairness in O(1). */
  #byConnection = new Map<string, { slots: Slots[]; held: number }>();
  #pausedUntil = 0;
  /** Connections refused recently: connection id -> when. */
  #waiting = new Map<string, number>();

  acquire(now: number, req: BudgetRequest): BudgetDecision {
    this.#prune(now, req.windowMs);
    if (now < this.#pausedUntil) return this.#refuse(now, req, this.#pausedUntil - now, "paused");
    if (this.#used >= req.limit) {
      // The oldest slots free first; `at + windowMs` is the first instant they no longer count.
      return this.#refuse(now, req, (this.#slots[0] as Slots).at + req.windowMs - now, "spent");
    }
    let grant = Math.min(Math.max(1, Math.floor(req.want ?? 1)), req.limit - this.#used, leaseCap(req.limit));
    if (req.fairShare !== undefined && this.#othersWaiting(now, req)) {
      const mine = this.#byConnection.get(req.connectionId);
      const held = mine?.held ?? 0;
      const cap = Math.max(1, Math.floor(req.limit * req.fairShare));
      if (mine && held >= cap) {
        return this.#refuse(now, req, (mine.slots[0] as Slots).at + req.windowMs - now, "fair");
      }
      grant = Math.min(grant, cap - held);
    }
    this.#insert({
      at: grant > 1 ? now + Math.max(0, req.holdMs ?? 0) : now,
      connectionId: req.connectionId,
      n: grant,
    });
    this.#waiting.delete(req.connectionId);
    return { ok: true, granted: grant };
  }

  /** Finch answered 429 for this product: nobody gets a slot until `now + ms`. */
  pause(now: number, ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, now + Math.max(0, ms));
  }

  /** Keeps the log ordered by `at`; a lease's `at` lies ahead, so it may go before later single calls. */
  #insert(slots: Slots): void {
    insertByTime(this.#slots, slots);
    this.#used += slots.n;
    let mine = this.#byConnection.get(slots.connectionId);
    if (!mine) {
      mine = { slots: [], held: 0 };
      this.#byConnection.set(slots.connectionId, mine);
    }
    insertByTime(mine.slots, slots);
    mine.held += slots.n;
  }

  #prune(now: number, windowMs: number): void {
    let expired = 0;
    while (expired < this.#slots.length && (this.#slots[expired] as Slots).at + windowMs <= now) {
      const gone = this.#slots[expired] as Slots;
      this.#used -= gone.n;
      // The earliest slots overall are the earliest of their connection (same order, ties included).
      const mine = this.#byConnection.get(gone.connectionId) as { slots: Slots[]; held: number };
      mine.slots.shift();
      mine.held -= gone.n;
      if (mine.held === 0) this.#byConnection.delete(gone.connectionId);
      expired++;
    }
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

/** Inserts after every entry with the same or an earlier `at`: ordered by time, ties in arrival order. */
function insertByTime(list: Slots[], slots: Slots): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as Slots).at > slots.at) i--;
  list.splice(i, 0, slots);
}
