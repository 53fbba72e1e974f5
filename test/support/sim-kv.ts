/**
 * Workers KV as it behaves across locations, for the consistency simulation. Writes land
 * centrally (and in the writing location's cache); every location serves reads from its own
 * cache until the entry's TTL ends, negative lookups included, then reads centrally again. The
 * clock is the simulation's, so "60 seconds later" costs nothing.
 *
 * A view may inject faults into its writes (the writer's, in the simulation), one decision per
 * write from `faults`:
 * - "fail": refused before it landed;
 * - "landed": landed, but reported as failed;
 * - "late": reported as failed now, lands later (when the schedule lets it, at the latest
 *   LATE_MAX_MS after it was sent): the write that "timed out" but was on its way;
 * - "hang": never answers (the caller's own timeout decides); lands later like "late", or never.
 *
 * Only what ConnectionStore uses is implemented: get(key, "text"), put with metadata,
 * delete, list({ prefix, limit, cursor }) (lists read centrally).
 */
interface Entry {
  value: string;
  metadata: unknown;
}
interface Cached {
  entry: Entry | null;
  until: number;
}

export type KvFault = "ok" | "fail" | "landed" | "late" | "hang";

/** A write on its way that has not landed yet. */
interface Landing {
  key: string;
  entry: Entry | null;
  deadline: number;
  landed: boolean;
}

/** A late write lands within this long of being sent (the writer's KV_SETTLE_MS assumes a minute). */
export const LATE_MAX_MS = 30_000;

export interface FaultSource {
  next(): KvFault;
  /** Lets a late write land at a moment the schedule picks (before its deadline). */
  later(land: () => void): void;
  /** KV's answer to a write reaches the caller when the schedule says so (a reset may come first). */
  answer<T>(settle: () => Promise<T>): Promise<T>;
}

export class SimKv {
  readonly central = new Map<string, Entry>();
  private readonly caches: Map<string, Cached>[];
  private readonly landings: Landing[] = [];
  /** Faults that fired, by kind. */
  readonly fired: Record<string, number> = {};

  constructor(
    locations: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {
    this.caches = Array.from({ length: locations }, () => new Map());
  }

  /** Lands every late write whose deadline has passed (the clock moved), oldest first. */
  landDue(): void {
    for (const l of this.landings) if (!l.landed && l.deadline <= this.now()) this.land(l);
  }

  /** Writes still on their way. */
  inFlight(): number {
    return this.landings.filter((l) => !l.landed).length;
  }

  private land(l: Landing): void {
    if (l.landed) return;
    l.landed = true;
    if (l.entry) this.central.set(l.key, l.entry);
    else this.central.delete(l.key);
  }

  /** The namespace as the Worker at `location` sees it; `faults` for the writes made through it. */
  view(location: number, faults?: FaultSource): KVNamespace {
    const cache = this.caches[location];
    if (!cache) throw new Error(`no location ${location}`);
    const remember = (key: string, entry: Entry | null) => cache.set(key, { entry, until: this.now() + this.ttlMs });
    const read = (key: string): Entry | null => {
      const hit = cache.get(key);
      if (hit && hit.until > this.now()) return hit.entry;
      const entry = this.central.get(key) ?? null;
      remember(key, entry);
      return entry;
    };
    const write = (key: string, entry: Entry | null): Promise<void> => {
      const fault = faults?.next() ?? "ok";
      if (fault !== "ok") this.fired[fault] = (this.fired[fault] ?? 0) + 1;
      const now = () => {
        if (entry) this.central.set(key, entry);
        else this.central.delete(key);
        remember(key, entry);
      };
      const refused = () => Promise.reject(new Error(`KV ${entry ? "PUT" : "DELETE"} failed: 503`));
      const answer = <T>(settle: () => Promise<T>) => (faults ? faults.answer(settle) : settle());
      switch (fault) {
        case "ok":
          now();
          return answer(() => Promise.resolve());
        case "fail":
          return answer(refused);
        case "landed":
          now();
          return answer(refused);
        case "late":
        case "hang": {
          const landing: Landing = { key, entry, deadline: this.now() + LATE_MAX_MS, landed: false };
          // A hung write lands in half the cases; the other half never reach KV.
          if (fault === "late" || this.landings.length % 2 === 0) {
            this.landings.push(landing);
            faults?.later(() => this.land(landing));
          }
          return fault === "late" ? answer(refused) : new Promise<void>(() => {});
        }
      }
    };
    const ns = {
      get: async (key: string) => read(key)?.value ?? null,
      getWithMetadata: async (key: string) => {
        const entry = read(key);
        return { value: entry?.value ?? null, metadata: entry?.metadata ?? null, cacheStatus: null };
      },
      put: (key: string, value: string, opts?: { metadata?: unknown }) =>
        write(key, { value, metadata: opts?.metadata ?? null }),
      delete: (key: string) => write(key, null),
      list: async (opts: { prefix?: string; limit?: number; cursor?: string }) => {
        const names = [...this.central.keys()].filter((k) => k.startsWith(opts.prefix ?? "")).sort();
        const start = opts.cursor ? Number(opts.cursor) : 0;
        const limit = opts.limit ?? 1000;
        const page = names.slice(start, start + limit);
        const complete = start + limit >= names.length;
        return {
          keys: page.map((name) => ({ name, metadata: this.central.get(name)?.metadata })),
          list_complete: complete,
          ...(complete ? {} : { cursor: String(start + limit) }),
          cacheStatus: null,
        };
      },
    };
    return ns as unknown as KVNamespace;
  }
}
