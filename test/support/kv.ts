import { env } from "cloudflare:workers";

/**
 * Reads the real Miniflare KV namespace the Worker writes to. KV is isolated per test
 * file, not per test, so files that assert "nothing stored" clear it before each test.
 */
export interface KvEntry {
  name: string;
  value: string;
  metadata: unknown;
}

export async function kvNames(): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.CONNECTIONS.list(cursor ? { cursor } : {});
    names.push(...page.keys.map((k) => k.name));
    if (page.list_complete) return names;
    cursor = page.cursor;
  }
}

/** Every key with its value and metadata, in key order. */
export async function kvEntries(): Promise<KvEntry[]> {
  const entries: KvEntry[] = [];
  for (const name of await kvNames()) {
    const { value, metadata } = await env.CONNECTIONS.getWithMetadata(name, "text");
    entries.push({ name, value: value ?? "", metadata });
  }
  return entries;
}

export async function clearKv(): Promise<void> {
  for (const name of await kvNames()) await env.CONNECTIONS.delete(name);
}

/** The parsed record stored under conn:<id>. */
export async function storedRecord(connectionId: string): Promise<any> {
  const raw = await env.CONNECTIONS.get(`conn:${connectionId}`, "text");
  if (raw === null) throw new Error(`no record for ${connectionId}`);
  return JSON.parse(raw);
}

export interface KvOps {
  reads: number;
  writes: number;
  lists: number;
  deletes: number;
}

/**
 * The real namespace behind a proxy that counts operations, to pass to `workerWith`
 * ({ CONNECTIONS: counted.kv }): KV bills per operation, so the cost of a flow is a
 * property worth asserting.
 */
export function countingKv(): { kv: KVNamespace; ops: KvOps } {
  const ops: KvOps = { reads: 0, writes: 0, lists: 0, deletes: 0 };
  const kind: Record<string, keyof KvOps> = {
    get: "reads",
    getWithMetadata: "reads",
    put: "writes",
    list: "lists",
    delete: "deletes",
  };
  const kv = new Proxy(env.CONNECTIONS, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const counter = kind[String(prop)];
        if (counter) ops[counter]++;
        return value.apply(target, args);
      };
    },
  });
  return { kv, ops };
}
