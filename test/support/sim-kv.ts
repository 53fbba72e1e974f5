/**
 * Workers KV as it behaves across locations, for the consistency simulation. Writes land
 * centrally at once (and in the writing location's cache); every location serves reads from
 * its own cache until the entry's TTL ends, negative lookups included, then reads centrally
 * again. The clock is the simulation's, so "60 seconds later" costs nothing.
 *
 * Only what ConnectionStore uses is implemented: get(key, "text"), put with metadata,
 * delete, list({ prefix, limit, cursor }) (lists read centrally: the simulation does not list).
 */
interface Entry {
  value: string;
  metadata: unknown;
}
interface Cached {
  entry: Entry | null;
  until: number;
}

export class SimKv {
  readonly central = new Map<string, Entry>();
  private readonly caches: Map<string, Cached>[];

  constructor(
    locations: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {
    this.caches = Array.from({ length: locations }, () => new Map());
  }

  /** The namespace as the Worker at `location` sees it. */
  view(location: number): KVNamespace {
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
    const ns = {
      get: async (key: string) => read(key)?.value ?? null,
      getWithMetadata: async (key: string) => {
        const entry = read(key);
        return { value: entry?.value ?? null, metadata: entry?.metadata ?? null, cacheStatus: null };
      },
      put: async (key: string, value: string, opts?: { metadata?: unknown }) => {
        const entry = { value, metadata: opts?.metadata ?? null };
        this.central.set(key, entry);
        remember(key, entry);
      },
      delete: async (key: string) => {
        this.central.delete(key);
        remember(key, null);
      },
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
