import * as v from "valibot";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import { sha256Hex } from "../lib/encoding";
import type { ConnectionStore, KeyPage, ListedKey } from "../storage/connection-store";
import { customerIndexKey } from "../storage/keys";
import {
  AuthMethodSchema,
  EntityCountsSchema,
  EntitySchema,
  entityFacts,
  readiness,
  type StoredConnection,
} from "../storage/records";

/**
 * Listing connections, a page at a time, from the two KV layouts in storage/connection-store.ts:
 * - by customer: the `cust:` index (newest first), then each record, because status changes
 *   only rewrite `conn:` and the status must be fresh;
 * - everything: `conn:` keys with their listing metadata, ordered by connection id.
 * A status filter is applied after reading, so a page can hold fewer than `limit` items (even
 * none) while `cursor` is not null. The cursor is opaque to callers: a KV cursor plus the last
 * key returned, so a page that stopped half-way through a KV page resumes right after it.
 */
export interface ConnectionSummary {
  connection_id: string;
  customer_id: string | null;
  customer_name: string | null;
  provider_id: string | null;
  status: string;
  created_at: string;
  updated_at: string;
  /** Data readiness, as introspect and Finch's job webhooks reported it (docs/api.md). */
  authentication_methods: { type: string; status: string | null }[] | null;
  entities: { id: string; name: string | null; source_id: string | null; status: string | null }[] | null;
  /** Entities by status ("connected": 1, "disconnected": 1), over every entity Finch listed. */
  entity_counts: Record<string, number> | null;
  last_successful_sync: string | null;
  last_initial_sync_at: string | null;
  last_data_sync_all_at: string | null;
}

/** A checked query (src/operations/connections.ts parses it from outside input). */
export interface ListQuery {
  customerId?: string | undefined;
  status?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface ConnectionPage {
  connections: ConnectionSummary[];
  cursor: string | null;
}

const DEFAULT_LIMIT = 25;
/** KV pages scanned per request when a status filter leaves pages short (bounds KV ops). */
const MAX_SCAN_PAGES = 3;

const MetadataSchema = v.object({
  cid: v.optional(v.string()),
  cn: v.optional(v.string()),
  pid: v.nullable(v.string()),
  st: v.string(),
  ca: v.string(),
  ua: v.string(),
  rd: v.optional(
    v.object({
      ls: v.nullable(v.string()),
      li: v.nullable(v.string()),
      ld: v.nullable(v.string()),
      am: v.nullable(v.array(AuthMethodSchema)),
      en: v.nullable(v.array(EntitySchema)),
      ec: v.optional(v.nullable(EntityCountsSchema)),
    }),
  ),
  partial: v.optional(v.literal(1)),
});

const CursorSchema = v.object({
  q: v.string(),
  c: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  a: v.optional(v.pipe(v.string(), v.maxLength(512))),
});
type Position = { c?: string | undefined; a?: string | undefined };

function decodeQueryCursor(q: string, cursor: string | undefined): Position {
  if (cursor === undefined) return {};
  const position = decodeCursor(CursorSchema, cursor);
  // A cursor only continues the query it came from (same customer and status filter).
  if (position.q !== q) throw new AppError("param_invalid", "cursor belongs to another query");
  return { c: position.c, a: position.a };
}

const fromRecord = (r: StoredConnection): ConnectionSummary => ({
  connection_id: r.connection_id,
  customer_id: r.customer_id,
  customer_name: r.customer_name,
  provider_id: r.provider_id,
  status: r.status,
  created_at: r.created_at,
  updated_at: r.updated_at,
  ...readiness(r),
});

/** Resolves one listed key to a summary; undefined for a dangling index entry. */
type Resolve = (keys: ListedKey[]) => Promise<(ConnectionSummary | undefined)[]>;

function byCustomer(store: ConnectionStore, customerId: string): Resolve {
  return (keys) =>
    Promise.all(
      keys.map(async (key) => {
        const record = await store.get(key.connectionId);
        // The prefix is a truncated hash: the record itself says whose connection it is. An
        // entry of an earlier life of the connection (disconnected, then connected again, its
        // removal still owed by the writer) is not this record's own entry: skipped, so the
        // connection is listed once.
        if (!record || record.customer_id !== customerId) return undefined;
        const own = await customerIndexKey(record.customer_id, record.created_at, record.connection_id);
        return own === key.key ? fromRecord(record) : undefined;
      }),
    );
}

function byMetadata(store: ConnectionStore): Resolve {
  return (keys) =>
    Promise.all(
      keys.map(async (key) => {
        const id = key.connectionId;
        const meta = v.safeParse(MetadataSchema, key.metadata);
        if (meta.success && !meta.output.partial && meta.output.rd) {
          const m = meta.output;
          const rd = meta.output.rd;
          const summary: ConnectionSummary = {
            connection_id: id,
            customer_id: m.cid ?? null,
            customer_name: m.cn ?? null,
            provider_id: m.pid,
            status: m.st,
            created_at: m.ca,
            updated_at: m.ua,
            authentication_methods: rd.am,
            // Entries written before entity counts existed: counted from the stored entities.
            ...entityFacts(rd.en, rd.ec),
            last_successful_sync: rd.ls,
            last_initial_sync_at: rd.li,
            last_data_sync_all_at: rd.ld,
          };
          return summary;
        }
        // Metadata that did not fit (or predates this layout or data readiness): the record has everything.
        const record = await store.get(id);
        return record && fromRecord(record);
      }),
    );
}

/**
 * `only`: a caller limited to several customers, listing without `customerId`: every connection,
 * filtered to theirs like the status filter (pages may run short; the cursor still leads on).
 */
export async function listConnections(
  store: ConnectionStore,
  query: ListQuery,
  only?: ReadonlySet<string>,
): Promise<ConnectionPage> {
  const limit = query.limit ?? DEFAULT_LIMIT;
  const { customerId } = query;
  const resolve = customerId === undefined ? byMetadata(store) : byCustomer(store, customerId);
  const list = (cursor: string | undefined): Promise<KeyPage> =>
    customerId === undefined ? store.listAll({ limit, cursor }) : store.listCustomer(customerId, { limit, cursor });
  const filter = [customerId ?? null, query.status ?? "", ...(only ? [[...only].sort()] : [])];
  const q = (await sha256Hex(JSON.stringify(filter))).slice(0, 16);
  let { c: kvCursor, a: after } = decodeQueryCursor(q, query.cursor);
  const connections: ConnectionSummary[] = [];

  for (let scanned = 1; ; scanned++) {
    const page = await list(kvCursor);
    const keys = after === undefined ? page.keys : page.keys.filter((k) => k.key > (after as string));
    const summaries = await resolve(keys);
    for (const [i, summary] of summaries.entries()) {
      if (!summary || (query.status !== undefined && summary.status !== query.status)) continue;
      if (only && !(summary.customer_id !== null && only.has(summary.customer_id))) continue;
      connections.push(summary);
      if (connections.length === limit) {
        const last = i === keys.length - 1;
        if (!last) return { connections, cursor: encodeCursor({ q, c: kvCursor, a: keys[i]?.key }) };
        return { connections, cursor: page.complete ? null : encodeCursor({ q, c: page.cursor }) };
      }
    }
    if (page.complete) return { connections, cursor: null };
    kvCursor = page.cursor;
    after = undefined;
    if (scanned >= MAX_SCAN_PAGES) return { connections, cursor: encodeCursor({ q, c: kvCursor }) };
  }
}
