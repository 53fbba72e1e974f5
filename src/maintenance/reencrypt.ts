import * as v from "valibot";
import type { KeyRing } from "../crypto/keyring";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connection-store";
import type { StoredConnection } from "../storage/records";
import type { ReencryptOutcome, Writers } from "../writer/commands";

/**
 * Moves tokens sealed under an older encryption key to the active one (the first entry of
 * ENCRYPTION_KEYS), one page of `conn:` keys per request, so an old key can be retired.
 * A page of 100 costs at most 1 list + 100 reads + 100 writes: far below the 1000 KV
 * operations a single Worker invocation may make.
 *
 * The cursor carries the running totals of the pass, so the answer that ends a pass
 * (cursor null) reports the whole keyspace. Every rewrite goes through the connection's
 * writer, so nothing can write an old sealed token back afterwards; a listing can still show
 * a KV copy up to a minute old, so a last pass that rewrites nothing confirms the end.
 */
const REENCRYPT_DEFAULT_LIMIT = 100;

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

type Outcome = ReencryptOutcome;

/**
 * KV says which records are still on an older key; the connection's writer re-seals its
 * authoritative copy (a KV copy may be a minute old) and writes it through with the next
 * generation, so a concurrent re-authentication can never be undone by this job.
 */
async function reencryptOne(deps: ReencryptDeps, id: string, trace: Trace): Promise<Outcome> {
  let record: StoredConnection | undefined;
  try {
    record = await deps.store.get(id);
  } catch (e) {
    if (e instanceof AppError && e.code === "record_unreadable") {
      trace.notes.push(`reencrypt: ${id} unreadable`);
      return "unreadable";
    }
    throw e;
  }
  if (!record) return "gone";
  if (deps.store.isCurrentKey(record.token)) return "current";
  return deps.writers(id).reencrypt(trace);
}

export interface ReencryptDeps {
  store: ConnectionStore;
  ring: KeyRing;
  writers: Writers;
}

export async function reencryptBatch(
  deps: ReencryptDeps,
  input: { cursor?: string | undefined; limit?: number | undefined },
  trace: Trace,
): Promise<ReencryptResult> {
  const start = decodePassCursor(input.cursor);
  const page = await deps.store.listAll({ limit: input.limit ?? REENCRYPT_DEFAULT_LIMIT, cursor: start.c });
  const outcomes = await Promise.all(page.keys.map((k) => reencryptOne(deps, k.connectionId, trace)));
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
  const cursor = page.complete ? null : encodeCursor({ c: page.cursor, t: pass });
  return { active_kid: deps.ring.activeKid, ...batch, cursor, pass };
}
