import * as v from "valibot";
import { DecryptError, KeyNotFoundError, type KeyRing } from "../crypto/keyring";
import { AppError } from "../errors";
import { sha256Hex, utf8 } from "../lib/encoding";
import { type ConnectionFacts, type StoredConnection, StoredConnectionSchema } from "./records";

/**
 * KV layout (see docs/storage-schema.md):
 *   conn:<connection_id>                        the record; token sealed with AES-GCM, AAD = this key
 *   cust:<sha256(customer_id)[0..32]>:<rev>:<connection_id>   customer index, newest first
 * KV failures surface as storage_unavailable, unreadable values as record_unreadable.
 */
export const connectionKey = (connectionId: string) => `conn:${connectionId}`;
const REV_BASE = 10_000_000_000_000;

export async function customerPrefix(customerId: string): Promise<string> {
  return `cust:${(await sha256Hex(customerId)).slice(0, 32)}:`;
}

export async function customerIndexKey(customerId: string, createdAt: string, connectionId: string) {
  const rev = String(REV_BASE - Date.parse(createdAt)).padStart(13, "0");
  return `${await customerPrefix(customerId)}${rev}:${connectionId}`;
}

/** What a listing needs, kept in the record key's KV metadata (under its 1 KiB limit). */
export interface ListingMetadata {
  cid?: string;
  cn?: string;
  pid: string | null;
  st: string;
  ca: string;
  ua: string;
  /** Set when a field did not fit: the listing reads the record instead. */
  partial?: 1;
}

const METADATA_LIMIT = 1024;

export function listingMetadata(f: ConnectionFacts): ListingMetadata {
  const full: ListingMetadata = {
    cid: f.customer_id,
    cn: f.customer_name,
    pid: f.provider_id,
    st: f.status,
    ca: f.created_at,
    ua: f.updated_at,
  };
  const fits = (m: ListingMetadata) => utf8(JSON.stringify(m)).byteLength <= METADATA_LIMIT;
  if (fits(full)) return full;
  const { cn: _cn, ...noName } = full;
  if (fits({ ...noName, partial: 1 })) return { ...noName, partial: 1 };
  const { cid: _cid, ...bare } = noName;
  return { ...bare, partial: 1 };
}

async function kv<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError("storage_unavailable", `kv ${what} failed`);
  }
}

export class ConnectionStore {
  constructor(
    private readonly ns: KVNamespace,
    private readonly ring: KeyRing,
  ) {}

  /** One KV read. undefined when there is no such connection. */
  async get(connectionId: string): Promise<StoredConnection | undefined> {
    const raw = await kv("read", () => this.ns.get(connectionKey(connectionId), "text"));
    if (raw === null) return undefined;
    return parseRecord(raw, connectionId);
  }

  async require(connectionId: string): Promise<StoredConnection> {
    const record = await this.get(connectionId);
    if (!record) throw new AppError("connection_not_found", `connection ${connectionId}`);
    return record;
  }

  /** Decrypts the token. A missing key or failed authentication is record_unreadable. */
  async token(record: StoredConnection): Promise<string> {
    try {
      return await this.ring.open(record.token, connectionKey(record.connection_id));
    } catch (e) {
      if (e instanceof KeyNotFoundError) throw new AppError("record_unreadable", `key ${e.kid} not configured`);
      if (e instanceof DecryptError) throw new AppError("record_unreadable", `decrypt failed: ${e.message}`);
      throw e;
    }
  }

  async seal(connectionId: string, token: string) {
    return this.ring.seal(token, connectionKey(connectionId));
  }

  /** Writes the record (one write), plus the customer index entry when `indexNew` (one more). */
  async write(record: StoredConnection, opts: { indexNew: boolean }): Promise<void> {
    const recordKey = connectionKey(record.connection_id);
    const puts: [string, () => Promise<void>][] = [
      [recordKey, () => this.ns.put(recordKey, JSON.stringify(record), { metadata: listingMetadata(record) })],
    ];
    if (opts.indexNew) {
      const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
      puts.push([indexKey, () => this.ns.put(indexKey, record.connection_id)]);
    }
    const results = await Promise.allSettled(puts.map(([, put]) => put()));
    if (results.every((r) => r.status === "fulfilled")) return;
    // A new connection is stored as a pair or not at all. A record without its index entry
    // would stay invisible to its customer's listing (later writes never add the entry), and
    // the caller is told to try again: undo the half that landed, best effort.
    if (opts.indexNew) {
      const landed = puts.filter((_, i) => results[i]?.status === "fulfilled");
      await Promise.allSettled(landed.map(([key]) => this.ns.delete(key)));
    }
    throw new AppError("storage_unavailable", "kv write failed");
  }

  /** Removes the record and its index entry. */
  async remove(record: StoredConnection): Promise<void> {
    const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
    // The index entry goes first: a dangling index entry is skipped by listings, a
    // dangling record without index would be invisible to its customer's listing.
    await kv("delete", () => this.ns.delete(indexKey));
    await kv("delete", () => this.ns.delete(connectionKey(record.connection_id)));
  }

  get namespace(): KVNamespace {
    return this.ns;
  }
}

export function parseRecord(raw: string, connectionId: string): StoredConnection {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new AppError("record_unreadable", `conn:${connectionId} is not JSON`);
  }
  const result = v.safeParse(StoredConnectionSchema, json);
  if (!result.success || result.output.connection_id !== connectionId) {
    throw new AppError("record_unreadable", `conn:${connectionId} has an unexpected shape`);
  }
  return result.output as StoredConnection;
}
