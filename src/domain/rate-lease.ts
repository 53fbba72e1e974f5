/**
 * Slots an isolate holds from a product's budget (domain/rate-budget.ts), so that a busy
 * isolate asks the budget's Durable Object once per lease rather than once per proxied call.
 * The object may be far from the caller (it lives in one place for the whole app), so that
 * request is the one part of the budget a caller waits for.
 *
 * Safety rests on two rules: a slot is used only before the lease's `until`, which is taken
 * from this isolate's clock before the object was asked (so no later than the object's own
 * `now + holdMs`, where it counted the lease); and nothing is returned, so a slot counted once
 * is never counted free while it might still be used. Unused slots of a lease only make the
 * budget stricter for the rest of the window.
 *
 * Pure (the clock is an argument); one book per isolate.
 */
export const LEASE_HOLD_MS = 1_000;
/** The most slots an isolate asks for at once. */
export const LEASE_MAX = 32;
const MAX_KEYS = 1024;

interface Lease {
  /** Slots still to use. */
  left: number;
  /** No slot is used at or after this instant (this isolate's clock). */
  until: number;
  /** Slots granted in this lease, including the one its first caller used. */
  size: number;
}

export class LeaseBook {
  #leases = new Map<string, Lease>();

  /** Takes a held slot for `key`; false when there is none (then ask the object). */
  take(key: string, now: number): boolean {
    const lease = this.#leases.get(key);
    if (!lease || lease.left === 0 || now >= lease.until) return false;
    lease.left--;
    return true;
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
   * The object granted `granted` slots to a request sent at `sentAt`; its caller uses one now.
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
