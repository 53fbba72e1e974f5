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
