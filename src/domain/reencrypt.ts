import * as v from "valibot";
import type { KeyRing } from "../crypto/keyring";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { Trace } from "../lib/trace";
import { type ConnectionStore, connectionKey } from "../storage/connections";
import type { StoredConnection } from "../storage/records";

/**
 * Moves tokens sealed under an older encryption key to the active one (the first entry of
 * ENCRYPTION_KEYS), one page of `conn:` keys per request, so an old key can be retired.
 * A page of 100 costs at most 1 list + 100 reads + 100 writes: far below the 1000 KV
 * operations a single Worker invocation may make.
 *
 * The cursor carries the running totals of the pass, so the answer that ends a pass
 * (cursor null) reports the whole keyspace. KV has no compare-and-set: a webhook that read
 * a record before this job rewrote it can write the old sealed token back, so finish with
 * one more pass that rewrites nothing.
 */
export const REENCRYPT_DEFAULT_LIMIT = 100;
export const REENCRYPT_MAX_LIMIT = 100;

export interface Tally {
  scanned: number;
  rewritten: number;
  /** Records still sealed under an older key after this run (their key is missing, or unreadable). */
  remaining_on_old_keys: number;
  /** Records that could not be parsed or decrypted; each is also named in the log line by id. */
  unreadable: number;
}

export interface ReencryptResult extends Tally {
  active_kid: string;
  cursor: string | null;
  /** Totals since the pass began (carried in the cursor); complete when cursor is null. */
  pass: Tally;
}

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const CursorSchema = v.object({
  c: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
  t: v.object({ scanned: count, rewritten: count, remaining_on_old_keys: count, unreadable: count }),
});

const zero = (): Tally => ({ scanned: 0, rewritten: 0, remaining_on_old_keys: 0, unreadable: 0 });

function decodePassCursor(cursor: string | undefined): { c: string | undefined; t: Tally } {
  if (cursor === undefined) return { c: undefined, t: zero() };
  return decodeCursor(CursorSchema, cursor);
}

type Outcome = "current" | "rewritten" | "old" | "unreadable" | "gone";

async function reencryptOne(store: ConnectionStore, ring: KeyRing, id: string, trace: Trace): Promise<Outcome> {
  let record: StoredConnection | undefined;
  try {
    record = await store.get(id);
  } catch (e) {
    if (e instanceof AppError && e.code === "record_unreadable") {
      trace.notes.push(`reencrypt: ${connectionKey(id)} unreadable`);
      return "unreadable";
    }
    throw e;
  }
  if (!record) return "gone";
  if (record.token.kid === ring.activeKid) return "current";
  let token: string;
  try {
    token = await store.token(record);
  } catch (e) {
    if (!(e instanceof AppError && e.code === "record_unreadable")) throw e;
    trace.notes.push(`reencrypt: ${connectionKey(id)} key ${record.token.kid} cannot open it`);
    return ring.kids.includes(record.token.kid) ? "unreadable" : "old";
  }
  await store.write({ ...record, token: await store.seal(id, token) }, { indexNew: false });
  return "rewritten";
}

export async function reencryptBatch(
  deps: { store: ConnectionStore; ring: KeyRing },
  input: { cursor?: string | undefined; limit?: number | undefined },
  trace: Trace,
): Promise<ReencryptResult> {
  const start = decodePassCursor(input.cursor);
  let page: KVNamespaceListResult<unknown>;
  try {
    page = await deps.store.namespace.list({
      prefix: "conn:",
      limit: input.limit ?? REENCRYPT_DEFAULT_LIMIT,
      ...(start.c ? { cursor: start.c } : {}),
    });
  } catch {
    throw new AppError("storage_unavailable", "kv list failed");
  }
  const outcomes = await Promise.all(
    page.keys.map((k) => reencryptOne(deps.store, deps.ring, k.name.slice("conn:".length), trace)),
  );
  const batch = zero();
  for (const outcome of outcomes) {
    if (outcome === "gone") continue;
    batch.scanned++;
    if (outcome === "rewritten") batch.rewritten++;
    if (outcome === "old") batch.remaining_on_old_keys++;
    if (outcome === "unreadable") batch.unreadable++;
  }
  const pass: Tally = {
    scanned: start.t.scanned + batch.scanned,
    rewritten: start.t.rewritten + batch.rewritten,
    remaining_on_old_keys: start.t.remaining_on_old_keys + batch.remaining_on_old_keys,
    unreadable: start.t.unreadable + batch.unreadable,
  };
  trace.notes.push(`reencrypt: scanned ${batch.scanned}, rewritten ${batch.rewritten}`);
  const cursor = page.list_complete ? null : encodeCursor({ c: page.cursor, t: pass });
  return { active_kid: deps.ring.activeKid, ...batch, cursor, pass };
}
