import * as v from "valibot";
import { DecryptError, KeyNotFoundError, type KeyRing, type Sealed } from "../crypto/keyring";
import { AppError } from "../errors";
import { utf8 } from "../lib/encoding";
import { CONNECTION_PREFIX, connectionIdOfKey, connectionKey, customerIndexKey, customerPrefix } from "./keys";
import {
  type AuthMethod,
  type ConnectionFacts,
  type EntityStatus,
  type StoredConnection,
  StoredConnectionSchema,
} from "./records";

/**
 * The connections in KV, as named operations (layout: keys.ts, docs/storage-schema.md).
 * Reads (get, token, list pages) are for every path at the edge; the writes (create,
 * replace, remove) belong to the connection's single writer (src/writer/), which orders
 * them by generation. KV failures surface as storage_unavailable, unreadable values as
 * record_unreadable.
 */

/** What a listing needs, kept in the record key's KV metadata (under its 1 KiB limit). */
export interface ListingMetadata {
  cid?: string;
  cn?: string;
  pid: string | null;
  st: string;
  /** status_at: the periodic re-introspection picks connections by it without reading records. */
  sa?: string;
  ca: string;
  ua: string;
  /**
   * Data readiness (records.ts): last_successful_sync, last_initial_sync_at,
   * last_data_sync_all_at, authentication_methods, entities. Absent on entries written before
   * it existed, and when it did not fit: the listing then reads the record.
   */
  rd?: ReadinessMetadata;
  /** Set when a field did not fit: the listing reads the record instead. */
  partial?: 1;
}

export interface ReadinessMetadata {
  ls: string | null;
  li: string | null;
  ld: string | null;
  am: AuthMethod[] | null;
  en: EntityStatus[] | null;
}

const METADATA_LIMIT = 1024;

function listingMetadata(f: ConnectionFacts): ListingMetadata {
  const full: ListingMetadata = {
    cid: f.customer_id,
    cn: f.customer_name,
    pid: f.provider_id,
    st: f.status,
    sa: f.status_at,
    ca: f.created_at,
    ua: f.updated_at,
    rd: {
      ls: f.last_successful_sync ?? null,
      li: f.last_initial_sync_at ?? null,
      ld: f.last_data_sync_all_at ?? null,
      am: f.authentication_methods ?? null,
      en: f.entities ?? null,
    },
  };
  const fits = (m: ListingMetadata) => utf8(JSON.stringify(m)).byteLength <= METADATA_LIMIT;
  if (fits(full)) return full;
  // Partial: the listing reads the record, so only what other readers use is kept.
  const { cn: _cn, rd: _rd, ...noName } = full;
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

/** One listed key: its connection id, the key (an opaque position for cursors) and its metadata. */
export interface ListedKey {
  key: string;
  connectionId: string;
  metadata: unknown;
}
export interface KeyPage {
  keys: ListedKey[];
  cursor: string | undefined;
  complete: boolean;
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

  seal(connectionId: string, token: string): Promise<Sealed> {
    return this.ring.seal(token, connectionKey(connectionId));
  }

  /** Whether a sealed token is under the active key (re-encryption moves the others). */
  isCurrentKey(sealed: Sealed): boolean {
    return sealed.kid === this.ring.activeKid;
  }

  /** Whether ENCRYPTION_KEYS still holds the key a token was sealed with. */
  knowsKey(kid: string): boolean {
    return this.ring.kids.includes(kid);
  }

  /**
   * A new connection: the record and its customer index entry (two writes), stored as a pair
   * or not at all. A record without its index entry would stay invisible to its customer's
   * listing (later writes never add the entry): the half that landed is undone, best effort.
   */
  async create(record: StoredConnection): Promise<void> {
    const recordKey = connectionKey(record.connection_id);
    const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
    const puts: [string, () => Promise<void>][] = [
      [recordKey, () => this.putRecord(record)],
      [indexKey, () => this.ns.put(indexKey, record.connection_id)],
    ];
    const results = await Promise.allSettled(puts.map(([, put]) => put()));
    if (results.every((r) => r.status === "fulfilled")) return;
    const landed = puts.filter((_, i) => results[i]?.status === "fulfilled");
    await Promise.allSettled(landed.map(([key]) => this.ns.delete(key)));
    throw new AppError("storage_unavailable", "kv write failed");
  }

  /** An existing connection's record, rewritten whole (one write; its index entry stays). */
  replace(record: StoredConnection): Promise<void> {
    return kv("write", () => this.putRecord(record));
  }

  /**
   * Removes the record and its index entry. The index entry goes first: a dangling index
   * entry is skipped by listings, a record without one would be invisible to its customer.
   */
  async remove(record: StoredConnection): Promise<void> {
    const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
    await kv("delete", () => this.ns.delete(indexKey));
    await kv("delete", () => this.ns.delete(connectionKey(record.connection_id)));
  }

  /** A page of every connection's record key, by connection id, with its listing metadata. */
  listAll(page: { limit: number; cursor?: string | undefined }): Promise<KeyPage> {
    return this.list(CONNECTION_PREFIX, page);
  }

  /** A page of one customer's index, newest connection first (no metadata: read each record). */
  async listCustomer(customerId: string, page: { limit: number; cursor?: string | undefined }): Promise<KeyPage> {
    return this.list(await customerPrefix(customerId), page);
  }

  private async list(prefix: string, page: { limit: number; cursor?: string | undefined }): Promise<KeyPage> {
    const result = await kv("list", () =>
      this.ns.list({ prefix, limit: page.limit, ...(page.cursor ? { cursor: page.cursor } : {}) }),
    );
    return {
      keys: result.keys.map((k) => ({ key: k.name, connectionId: connectionIdOfKey(k.name), metadata: k.metadata })),
      cursor: result.list_complete ? undefined : result.cursor,
      complete: result.list_complete,
    };
  }

  private putRecord(record: StoredConnection): Promise<void> {
    return this.ns.put(connectionKey(record.connection_id), JSON.stringify(record), {
      metadata: listingMetadata(record),
    });
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
  return result.output;
}
