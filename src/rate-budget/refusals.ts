/**
 * The connections a product's budget refused within the last window, for fairness
 * (rate-budget/window.ts): each connection once, in the order of its latest refusal, so
 * that expired ones leave from the front and every operation is O(1) (amortised for expiry,
 * where each entry leaves once). A refusal moves its connection to the back.
 *
 * Before, a map was walked in full on every request: after 200,000 refusals in a window, a
 * few minutes of the object's CPU. `visited` counts the entries expiry looked at, so a test
 * can bound the work without timing it.
 */
interface Entry {
  id: string;
  at: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

export class RecentRefusals {
  readonly #byId = new Map<string, Entry>();
  #head: Entry | undefined;
  #tail: Entry | undefined;
  /** Entries looked at by `expire`, ever (a work counter for tests). */
  visited = 0;

  get size(): number {
    return this.#byId.size;
  }

  /** `id` was refused at `now`. Times never go back in the list (a clock step back keeps the order). */
  note(id: string, now: number): void {
    const at = Math.max(now, this.#tail?.at ?? now);
    const entry = this.#byId.get(id);
    if (entry) {
      if (entry === this.#tail) {
        entry.at = at;
        return;
      }
      this.#unlink(entry);
      entry.at = at;
      this.#append(entry);
      return;
    }
    const fresh: Entry = { id, at, prev: undefined, next: undefined };
    this.#byId.set(id, fresh);
    this.#append(fresh);
  }

  /** `id` got a slot: it no longer waits. */
  forget(id: string): void {
    const entry = this.#byId.get(id);
    if (!entry) return;
    this.#unlink(entry);
    this.#byId.delete(id);
  }

  /** Drops refusals older than the window: from the front, as far as they reach. */
  expire(now: number, windowMs: number): void {
    while (this.#head && this.#head.at + windowMs <= now) {
      this.visited++;
      const gone = this.#head;
      this.#unlink(gone);
      this.#byId.delete(gone.id);
    }
  }

  /** Whether a connection other than `id` is waiting (after `expire`). */
  othersThan(id: string): boolean {
    return this.#byId.size > (this.#byId.has(id) ? 1 : 0);
  }

  #append(entry: Entry): void {
    entry.prev = this.#tail;
    entry.next = undefined;
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
  }

  #unlink(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
  }
}
