import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { createKeyRing, type KeyRing } from "../../src/crypto/keyring";
import { ConnectionStore } from "../../src/storage/connection-store";
import { RECORD_VERSION, type StoredConnection } from "../../src/storage/records";
import { finch } from "./finch";
import { TEST_SECRETS } from "./secrets";

/**
 * The one place tests get their data from: key rings, stores, seeded connections, and reads
 * of the real Miniflare KV namespace the Worker writes to. KV is isolated per test file, not
 * per test, so files that assert "nothing stored" call clearKv before each test.
 * Assertions live in ./assert.ts; calling the Worker in ./http.ts.
 */

// --- key rings and stores ---------------------------------------------------------------

/** The Worker's key ring (k2 active, k1 older) and one entry of it on its own. */
export const fullRing = (): KeyRing => createKeyRing(TEST_SECRETS.ENCRYPTION_KEYS);
export function ringOf(kid: string): KeyRing {
  const entry = TEST_SECRETS.ENCRYPTION_KEYS.split(",").find((e) => e.startsWith(`${kid}:`));
  if (!entry) throw new Error(`no test key ${kid}`);
  return createKeyRing(entry);
}
/** A key the Worker was never given (e.g. one dropped after a rotation). */
export const retiredRing = (): KeyRing => createKeyRing("k0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");

/** The same store the Worker uses (same KV, same keys), or one with another key ring. */
export const testStore = (keys: KeyRing | string = fullRing()) =>
  new ConnectionStore(env.CONNECTIONS, typeof keys === "string" ? createKeyRing(keys) : keys);

// --- seeded connections -----------------------------------------------------------------

/** Every token handed out in this test, including ones the mock has since revoked. */
const issued = new Set<string>();

export function rememberToken(token: string): void {
  issued.add(token);
}

/** Tokens a response must never show: every one issued here or by the mock Finch. */
export const knownTokens = (): string[] => [...issued, ...finch().mock.tokens.keys()];

export interface Seeded {
  connectionId: string;
  accessToken: string;
  record: StoredConnection;
}

export interface SeedOptions {
  customerId?: string;
  customerName?: string;
  createdAt?: string;
  status?: string;
  /** A chosen id: the connection then exists only here, not at the mock Finch. */
  connectionId?: string;
  /** The token to seal (with a chosen id); by default a fresh local-only one. */
  token?: string;
  /** Seal under this ring (as an earlier deployment would have), or write through this store. */
  ring?: KeyRing;
  store?: ConnectionStore;
}

/**
 * A connection stored as the callback would store it (record + customer index entry), by
 * default live at the mock Finch. Faster than the Connect flow and lets a test choose
 * created_at (customer listings are newest first), the id, the token and the key it is under.
 */
export async function seedConnection(opts: SeedOptions = {}): Promise<Seeded> {
  const customerId = opts.customerId ?? "acme";
  const customerName = opts.customerName ?? "Acme Inc";
  const { accessToken, connectionId } = opts.connectionId
    ? { connectionId: opts.connectionId, accessToken: opts.token ?? `local_only_${crypto.randomUUID()}` }
    : finch().mock.seedConnection({ customerId, customerName });
  issued.add(accessToken);
  const mock = finch().mock.connections.get(connectionId);
  const store = opts.store ?? testStore(opts.ring);
  const at = opts.createdAt ?? new Date().toISOString();
  const record: StoredConnection = {
    v: RECORD_VERSION,
    connection_id: connectionId,
    customer_id: customerId,
    customer_name: customerName,
    customer_email: null,
    provider_id: mock?.providerId ?? "gusto",
    products: ["company", "directory"],
    client_type: "sandbox",
    connection_type: "provider",
    company_id: mock?.companyId ?? null,
    account_id: mock?.accountId ?? null,
    status: opts.status ?? "connected",
    status_at: at,
    created_at: at,
    updated_at: at,
    token: await store.seal(connectionId, accessToken),
  };
  await writeRecord(record, true, store);
  return { connectionId, accessToken, record };
}

/**
 * Writes a record straight to KV as the writer's owed writes would (record, and for a new
 * connection its index entry), with no writer state: as a record stored before the single
 * writer existed, which the writer adopts on its first call.
 */
export async function writeRecord(record: StoredConnection, isNew: boolean, store = testStore()): Promise<void> {
  for (const write of await store.storeWrites(record, isNew)) await store.apply(write);
}

// --- reading KV -------------------------------------------------------------------------

export interface KvEntry {
  name: string;
  value: string;
  metadata: unknown;
}

/** Every key name (under `prefix`), in key order. */
export async function kvNames(prefix = ""): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.CONNECTIONS.list({ prefix, ...(cursor ? { cursor } : {}) });
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

/** The parsed record under conn:<id>, or null. */
export async function rawRecord(connectionId: string): Promise<StoredConnection | null> {
  const raw = await env.CONNECTIONS.get(`conn:${connectionId}`, "text");
  return raw === null ? null : (JSON.parse(raw) as StoredConnection);
}

/** The parsed record under conn:<id>, which must exist (loosely typed for field probes). */
export async function storedRecord(connectionId: string): Promise<any> {
  const record = await rawRecord(connectionId);
  if (record === null) throw new Error(`no record for ${connectionId}`);
  return record;
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
