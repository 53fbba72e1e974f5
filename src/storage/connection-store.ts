import * as v from "valibot";
import { DecryptError, KeyNotFoundError, type KeyRing, type Sealed } from "../crypto/keyring";
import { AppError } from "../errors";
import { utf8 } from "../lib/encoding";
import { BoundedMemo, deepFreeze } from "../lib/memo";
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
 * Reads (get, token, list pages) are for every path at the edge; writes are planned here
 * (storeWrites, removeWrites) and applied only by the connection's single writer
 * (src/writer/), after its own storage committed them with their generation. KV failures
 * surface as storage_unavailable, unreadable values as record_unreadable.
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
  /** Entities by status (absent on entries written before counts were kept). */
  ec?: Record<string, number> | null;
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
      ec: f.entity_counts ?? null,
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

/** One KV write a connection's writer owes: a put (`value`, with listing metadata), or a delete (`value` null). */
export interface KvWrite {
  key: string;
  value: string | null;
  metadata?: ListingMetadata;
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
   * The KV writes that store `record` (docs/consistency.md): its record key, and for a new
   * connection also its customer index entry. Planned here, applied one by one with `apply`
   * by the connection's writer after its own storage committed them (src/writer/owed.ts).
   */
  async storeWrites(record: StoredConnection, isNew: boolean): Promise<KvWrite[]> {
    const put: KvWrite = {
      key: connectionKey(record.connection_id),
      value: JSON.stringify(record),
      metadata: listingMetadata(record),
    };
    if (!isNew) return [put];
    const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
    return [put, { key: indexKey, value: record.connection_id }];
  }

  /** The KV writes that forget `record`: its customer index entry and its record key. */
  async removeWrites(record: StoredConnection): Promise<KvWrite[]> {
    const indexKey = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
    return [
      { key: indexKey, value: null },
      { key: connectionKey(record.connection_id), value: null },
    ];
  }

  /** One planned write, once. A failure is storage_unavailable (it may still have landed). */
  apply(write: KvWrite): Promise<void> {
    if (write.value === null) return kv("delete", () => this.ns.delete(write.key));
    const { value, metadata } = write;
    return kv("write", () => this.ns.put(write.key, value, metadata === undefined ? {} : { metadata }));
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
}

/**
 * Records this isolate already parsed, by their exact KV text: the same text always parses to
 * the same record, so a busy connection's record (read on every proxied call) is parsed once
 * (JSON and schema), not per request; a changed value is another text, parsed afresh.
 * Deep-frozen, so no reader can change what another reads. Bounded in entries (least recently
 * used first out) and in text length (a longer text is parsed every time).
 */
export const RECORD_MEMO_LIMIT = 128;
export const RECORD_MEMO_MAX_CHARS = 16_384;
const parsedRecords = new BoundedMemo<string, StoredConnection>(RECORD_MEMO_LIMIT);

/** The record stored as `raw` under `connectionId`'s key: record_unreadable unless it is that connection's. */
export function parseRecord(raw: string, connectionId: string): StoredConnection {
  const known = parsedRecords.get(raw);
  if (known !== undefined) {
    // The same text under another connection's key is not that connection's record.
    if (known.connection_id !== connectionId) throw unexpectedShape(connectionId);
    return known;
  }
  const record = deepFreeze(parseRecordText(raw, connectionId));
  if (raw.length <= RECORD_MEMO_MAX_CHARS) parsedRecords.set(raw, record);
  return record;
}

const unexpectedShape = (connectionId: string) =>
  new AppError("record_unreadable", `conn:${connectionId} has an unexpected shape`);

function parseRecordText(raw: string, connectionId: string): StoredConnection {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new AppError("record_unreadable", `conn:${connectionId} is not JSON`);
  }
  const result = v.safeParse(StoredConnectionSchema, json);
  if (!result.success || result.output.connection_id !== connectionId) throw unexpectedShape(connectionId);
  return result.output;
}
