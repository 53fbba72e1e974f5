import { env } from "cloudflare:workers";
import { vi } from "vitest";

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
 * Counts the KV operations made from now on, by the Worker and by the connections' writers
 * (they share the one namespace object in the pool, so pass-through spies see both): KV bills
 * per operation, so the cost of a flow is a property worth asserting. `kv` is the namespace.
 */
export function countingKv(): { kv: KVNamespace; ops: KvOps } {
  const ops: KvOps = { reads: 0, writes: 0, lists: 0, deletes: 0 };
  const kind: [keyof KVNamespace, keyof KvOps][] = [
    ["get", "reads"],
    ["getWithMetadata", "reads"],
    ["put", "writes"],
    ["list", "lists"],
    ["delete", "deletes"],
  ];
  const ns = env.CONNECTIONS as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const [method, counter] of kind) {
    const original = ns[method]!.bind(ns);
    vi.spyOn(ns, method).mockImplementation((...args: unknown[]) => {
      ops[counter]++;
      return original(...args);
    });
  }
  return { kv: env.CONNECTIONS, ops };
}
