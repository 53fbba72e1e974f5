import type { BudgetDecision } from "./window";

/**
 * The isolate's side of a product's budget (rate-budget/window.ts): the slots it holds across
 * requests (`LeaseBook`, one per isolate), and each call's way from asking for a slot to
 * sending (`CallSlot`). The object may be far from the caller (it lives in one place for the
 * whole app), so its answer is the one part of the budget a caller waits for; a busy isolate
 * asks once per lease rather than once per call.
 *
 * Safety rests on three rules:
 * - a slot is sent before its `until`, taken from this isolate's clock before the object was
 *   asked (so no later than the object's own `now + holdMs`, the end of the hold it counted);
 *   a call that is ready only after that (a slow token read, a slow answer) asks again;
 * - a slot goes back only when it was never sent: to the object when the object granted it to
 *   this call, to the book when it came from a lease still in its hold;
 * - lease slots left unused are never returned: they only make the budget stricter.
 *
 * Pure (the clock is an argument).
 */
export const LEASE_HOLD_MS = 1_000;
/** The most slots an isolate asks for at once. */
export const LEASE_MAX = 32;
/** Requests to the object for one call: the one made with the token read, and one more if that went stale. */
export const MAX_ASKS = 2;
const MAX_KEYS = 1024;

interface Lease {
  /** Slots still to use. */
  left: number;
  /** No slot is used at or after this instant (this isolate's clock). */
  until: number;
  /** Slots granted in this lease, including the one its first caller used. */
  size: number;
}

/** A slot one call holds: sent before `until`, or not at all. */
export interface HeldSlot {
  until: number;
  /** The object's grant, when the object granted this slot to this very call. */
  grant?: number;
  /** The lease it was taken from, and under which key. */
  lease?: { key: string; from: Lease };
}

export class LeaseBook {
  #leases = new Map<string, Lease>();

  /** Takes a held slot for `key`; undefined when there is none (then ask the object). */
  take(key: string, now: number): HeldSlot | undefined {
    const lease = this.#leases.get(key);
    if (!lease || lease.left === 0 || now >= lease.until) return undefined;
    lease.left--;
    return { until: lease.until, lease: { key, from: lease } };
  }

  /** A slot taken from a lease was not sent: back into the same lease, while it may still be used. */
  putBack(slot: HeldSlot, now: number): void {
    const lease = slot.lease;
    if (!lease || this.#leases.get(lease.key) !== lease.from || now >= lease.from.until) return;
    lease.from.left++;
  }

  /**
   * How many slots to ask for: the demand the last lease showed. One at first; twice the last
   * lease when it ran out before its hold ended; what was used of it when it expired.
   */
  want(key: string, now: number): number {
    const lease = this.#leases.get(key);
    if (!lease) return 1;
    if (now < lease.until) return Math.min(LEASE_MAX, lease.size * 2);
    return Math.max(1, lease.size - lease.left);
  }

  /**
   * The object granted `granted` slots to a request sent at `sentAt`; its caller keeps one.
   * The rest may be used until `sentAt + LEASE_HOLD_MS`.
   */
  add(key: string, sentAt: number, granted: number): void {
    const extra = Math.max(0, granted - 1);
    const until = sentAt + LEASE_HOLD_MS;
    const lease = this.#leases.get(key);
    if (lease && sentAt < lease.until) {
      // Slots of both leases are good until the earlier end.
      lease.left += extra;
      lease.until = Math.min(lease.until, until);
      lease.size = Math.max(lease.size, granted);
      return;
    }
    if (this.#leases.size >= MAX_KEYS) this.#forgetExpired(sentAt);
    this.#leases.set(key, { left: extra, until, size: granted });
  }

  /** Keys are per product, or per product and connection under fairness: keep the map bounded. */
  #forgetExpired(now: number): void {
    for (const [key, lease] of this.#leases) if (now >= lease.until) this.#leases.delete(key);
  }

  /** Finch said 429: this isolate gives up what it holds for keys starting with `prefix`. */
  drop(prefix: string): void {
    for (const [key, lease] of this.#leases) if (key.startsWith(prefix)) lease.left = 0;
  }
}

/** A request to the object: sent at `sentAt` (this isolate's clock), for `want` slots. */
export interface Ask {
  sentAt: number;
  want: number;
  /** A grant whose slot this call did not send, given back in the same request. */
  giveBack?: number | undefined;
}

export type Ready =
  | { kind: "send" }
  | { kind: "ask"; ask: Ask }
  /** Asked MAX_ASKS times and still no slot in time: the object is too slow to time a call. */
  | { kind: "late"; giveBack: number | undefined };

/**
 * One call's slot. The call asks for it while its token is read (`start`), hears the object
 * (`answered`), and once the token is in hand either sends, asks again, or gives up (`ready`);
 * a call that will not go to Finch gives its slot back (`cancel`). The port (slot.ts) and the simulation in test/sim/rate-lease.test.ts
 * both drive this, so what is proved there is what runs.
 */
export class CallSlot {
  #held: HeldSlot | undefined;
  #asks = 0;

  constructor(
    private readonly book: LeaseBook,
    private readonly key: string,
  ) {}

  /** Before the token read: a slot this isolate already holds, or what to ask the object. */
  start(now: number): Ask | undefined {
    this.#held = this.book.take(this.key, now);
    return this.#held ? undefined : this.#ask(now, undefined);
  }

  /** The object's answer to `ask`: a refusal comes back as is (the call is refused). */
  answered(ask: Ask, decision: BudgetDecision): Extract<BudgetDecision, { ok: false }> | undefined {
    if (!decision.ok) return decision;
    this.book.add(this.key, ask.sentAt, decision.granted);
    this.#held = { until: ask.sentAt + LEASE_HOLD_MS, grant: decision.grant };
    return undefined;
  }

  /** The call could be sent now: with the slot it holds, if that is still in its hold. */
  ready(now: number): Ready {
    const held = this.#held;
    if (held && now < held.until) return { kind: "send" };
    // Stale: it was counted as sent by `until`, and a later send could reach Finch after it
    // stopped counting. Never sent, so it goes back.
    const giveBack = held?.grant;
    this.#held = undefined;
    if (this.#asks >= MAX_ASKS) return { kind: "late", giveBack };
    return { kind: "ask", ask: this.#ask(now, giveBack) };
  }

  /** The call will not go to Finch: the object's grant to give back, if the slot came from one. */
  cancel(now: number): number | undefined {
    const held = this.#held;
    this.#held = undefined;
    if (!held) return undefined;
    if (held.grant !== undefined) return held.grant;
    this.book.putBack(held, now);
    return undefined;
  }

  #ask(now: number, giveBack: number | undefined): Ask {
    this.#asks++;
    return { sentAt: now, want: this.book.want(this.key, now), giveBack };
  }
}
