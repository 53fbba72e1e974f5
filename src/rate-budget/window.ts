import { RecentRefusals } from "./refusals";

/**
 * The app-wide budget for one Finch product: a sliding log of the slots granted in the
 * window. It lives in one Durable Object per product (rate-budget/object.ts), so every
 * location and every connection of the app draws from the same count. Pure: the clock is an
 * argument, so window edges are tested exactly; what it grants is written through a
 * `WindowStore`, so the log outlives the object's memory (an object is reset on deploys, moves
 * and eviction, and a fresh one that forgot the last minute would grant it all again).
 *
 * A request may ask for several slots at once (a lease, rate-budget/lease.ts): an isolate that
 * calls a product often then asks the object once per lease instead of once per call. Every
 * grant, a single slot included, is counted from when it is granted until one window after
 * the end of its hold: the caller sends within the hold or not at all (it asks again), so no
 * call reaches Finch after its slot stopped counting, however long its token read took.
 */
export interface BudgetRequest {
  connectionId: string;
  /** Calls allowed in any window. */
  limit: number;
  /** How long a sent call holds its slot (Finch's window plus a margin for the trip to Finch). */
  windowMs: number;
  /** 0 < share < 1: the most one connection may hold while others wait; undefined: no cap. */
  fairShare?: number | undefined;
  /** Slots wanted (a lease); 1 when absent. At most `leaseCap(limit)` are granted. */
  want?: number | undefined;
  /** How long after the grant its caller may still send (each slot of it, the first included). */
  holdMs?: number | undefined;
  /** A grant of this connection whose caller's slot was never sent: that slot is given back first. */
  giveBack?: number | undefined;
}

export type BudgetDecision =
  | { ok: true; granted: number; grant: number }
  | { ok: false; retryAfterMs: number; reason: "spent" | "paused" | "fair" };

/** `n` slots granted to one request, counted until `at + windowMs` (`at`: the end of the hold). */
export interface Grant {
  id: number;
  at: number;
  connectionId: string;
  n: number;
}

/** Where the log is kept beyond the object's memory (rate-budget/object.ts: its SQLite). */
export interface WindowStore {
  /** What was kept: read once, when the window is built. */
  load(): { grants: Grant[]; pausedUntil: number };
  /** Keeps a new grant; returns its id, never one used before (a late give-back must not hit another grant). */
  add(grant: Omit<Grant, "id">): number;
  /** The grant now holds `n` slots; 0: it is gone. */
  resize(id: number, n: number): void;
  /** Grants with `at <= upTo` no longer count. */
  expire(upTo: number): void;
  pause(until: number): void;
}

/** Keeps nothing: a window that lives in memory only (pure tests). */
function memoryOnly(): WindowStore {
  let ids = 0;
  return { load: () => ({ grants: [], pausedUntil: 0 }), add: () => ++ids, resize() {}, expire() {}, pause() {} };
}

/**
 * The most slots one lease may take: a 64th of the product's limit. At Finch's default limits
 * (20 or 12 a minute) that is 1, so every call asks the object and nothing is ever held unused;
 * leases only pay, and only happen, for applications whose limits Finch has raised.
 */
export const LEASE_DIVISOR = 64;
export const leaseCap = (limit: number) => Math.max(1, Math.floor(limit / LEASE_DIVISOR));

export class SlidingWindow {
  /** Grants in the window, ordered by `at` (ties in grant order). */
  #slots: Grant[] = [];
  #used = 0;
  /** The same grants per connection (also ordered by `at`) and their count: fairness in O(1). */
  #byConnection = new Map<string, { slots: Grant[]; held: number }>();
  #pausedUntil = 0;
  /** Connections refused recently (fairness). Memory only: losing it only relaxes fairness once. */
  readonly #refusals = new RecentRefusals();
  #visited = 0;

  constructor(private readonly store: WindowStore = memoryOnly()) {
    const saved = store.load();
    const grants = saved.grants.filter((g) => g.n > 0).sort((a, b) => a.at - b.at || a.id - b.id);
    for (const g of grants) this.#insert({ ...g });
    this.#pausedUntil = saved.pausedUntil;
  }

  /** Log and refusal entries looked at so far (a work counter for tests: amortised O(1) per request). */
  get visited(): number {
    return this.#visited + this.#refusals.visited;
  }

  acquire(now: number, req: BudgetRequest): BudgetDecision {
    if (req.giveBack !== undefined) this.release(req.connectionId, req.giveBack);
    this.#prune(now, req.windowMs);
    if (now < this.#pausedUntil) return this.#refuse(now, req, this.#pausedUntil - now, "paused");
    if (this.#used >= req.limit) {
      // The oldest slots free first; `at + windowMs` is the first instant they no longer count.
      return this.#refuse(now, req, (this.#slots[0] as Grant).at + req.windowMs - now, "spent");
    }
    let n = Math.min(Math.max(1, Math.floor(req.want ?? 1)), req.limit - this.#used, leaseCap(req.limit));
    if (req.fairShare !== undefined && this.#refusals.othersThan(req.connectionId)) {
      const mine = this.#byConnection.get(req.connectionId);
      const held = mine?.held ?? 0;
      const cap = Math.max(1, Math.floor(req.limit * req.fairShare));
      if (mine && held >= cap) {
        return this.#refuse(now, req, (mine.slots[0] as Grant).at + req.windowMs - now, "fair");
      }
      n = Math.min(n, cap - held);
    }
    const kept = { at: now + Math.max(0, req.holdMs ?? 0), connectionId: req.connectionId, n };
    const grant: Grant = { id: this.store.add(kept), ...kept };
    this.#insert(grant);
    this.#refusals.forget(req.connectionId);
    return { ok: true, granted: n, grant: grant.id };
  }

  /**
   * One slot of a grant was never sent (its call stopped before Finch, or waited past its hold):
   * it stops counting. Only the grant's own connection may give it back; unknown ids are ignored.
   */
  release(connectionId: string, id: number): void {
    let i = this.#slots.length - 1;
    // Recent grants sit at the back, and a slot is given back within moments of its grant.
    while (i >= 0 && (this.#slots[i] as Grant).id !== id) i--;
    this.#visited += this.#slots.length - i;
    const grant = this.#slots[i];
    if (!grant || grant.connectionId !== connectionId) return;
    const mine = this.#byConnection.get(connectionId) as { slots: Grant[]; held: number };
    grant.n--;
    this.#used--;
    mine.held--;
    if (grant.n === 0) {
      this.#slots.splice(i, 1);
      mine.slots.splice(mine.slots.lastIndexOf(grant), 1);
      if (mine.held === 0) this.#byConnection.delete(connectionId);
    }
    this.store.resize(id, grant.n);
  }

  /** Finch answered 429 for this product: nobody gets a slot until `now + ms`. */
  pause(now: number, ms: number): void {
    const until = now + Math.max(0, ms);
    if (until <= this.#pausedUntil) return;
    this.#pausedUntil = until;
    this.store.pause(until);
  }

  /** Keeps the log ordered by `at`; with one hold for every grant, a new one goes at the back. */
  #insert(grant: Grant): void {
    insertByTime(this.#slots, grant);
    this.#used += grant.n;
    let mine = this.#byConnection.get(grant.connectionId);
    if (!mine) {
      mine = { slots: [], held: 0 };
      this.#byConnection.set(grant.connectionId, mine);
    }
    insertByTime(mine.slots, grant);
    mine.held += grant.n;
  }

  #prune(now: number, windowMs: number): void {
    let expired = 0;
    while (expired < this.#slots.length && (this.#slots[expired] as Grant).at + windowMs <= now) {
      const gone = this.#slots[expired] as Grant;
      this.#used -= gone.n;
      // The earliest slots overall are the earliest of their connection (same order, ties included).
      const mine = this.#byConnection.get(gone.connectionId) as { slots: Grant[]; held: number };
      mine.slots.shift();
      mine.held -= gone.n;
      if (mine.held === 0) this.#byConnection.delete(gone.connectionId);
      expired++;
    }
    this.#visited += expired;
    if (expired > 0) {
      this.#slots.splice(0, expired);
      this.store.expire(now - windowMs);
    }
    this.#refusals.expire(now, windowMs);
  }

  #refuse(now: number, req: BudgetRequest, waitMs: number, reason: "spent" | "paused" | "fair"): BudgetDecision {
    this.#refusals.note(req.connectionId, now);
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(waitMs)), reason };
  }
}

/** Inserts after every entry with the same or an earlier `at`: ordered by time, ties in arrival order. */
function insertByTime(list: Grant[], grant: Grant): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as Grant).at > grant.at) i--;
  list.splice(i, 0, grant);
}
