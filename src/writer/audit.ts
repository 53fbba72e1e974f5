import { sha256Hex } from "../lib/encoding";

/**
 * The audit trail of one connection (docs/security.md, "Audit trail"): who did what to it, when,
 * under which request. The writer appends an entry in the same commit as what it records, so
 * no change is stored without its entry and no entry describes a change that was not stored.
 *
 * Entries form a hash chain: `hash` is the SHA-256 (hex) of the previous entry's hash, a line
 * break, and this entry's canonical JSON (its fields in the fixed order of AUDIT_FIELDS, no
 * spaces). Changing, removing or reordering a stored entry breaks every hash after it, and the
 * chain is checked on every read. Only the last MAX_AUDIT_ENTRIES are kept: the hash of the
 * last one dropped (the anchor) stays, so what is kept still verifies.
 *
 * Never in an entry: a token, a code, a secret, or anything Finch says about the employer. The
 * actor is a name the operator chose for a key, a key's hash prefix, or a fixed word.
 */
export const AUDIT_ACTIONS = [
  "connected",
  "reauthenticated",
  "imported",
  "status_changed",
  "updated",
  "data_synced",
  "disconnected",
  /** Re-encrypted under the current key (the name is in stored chains and the API: kept). */
  "resealed",
  "token_revealed",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  seq: number;
  at: string;
  action: AuditAction;
  actor: string;
  request_id: string;
  hash: string;
}

/** Where the kept entries start: the last dropped entry's seq and hash (seq 0: nothing dropped). */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

export const MAX_AUDIT_ENTRIES = 1000;
/** The chain's start, before any entry. */
export const GENESIS: AuditAnchor = { seq: 0, hash: "0".repeat(64) };

const AUDIT_FIELDS = ["seq", "at", "action", "actor", "request_id"] as const;

/** An entry's canonical JSON: the fields in a fixed order (every value is a string or an integer). */
export function canonical(entry: Omit<AuditEntry, "hash">): string {
  return JSON.stringify(Object.fromEntries(AUDIT_FIELDS.map((f) => [f, entry[f]])));
}

export const chainHash = (previous: string, entry: Omit<AuditEntry, "hash">): Promise<string> =>
  sha256Hex(`${previous}\n${canonical(entry)}`);

/** The next entry after `last` (or the anchor), with its hash. */
export async function nextEntry(
  last: AuditAnchor,
  fields: { at: string; action: AuditAction; actor: string; request_id: string },
): Promise<AuditEntry> {
  const entry = { seq: last.seq + 1, ...fields };
  return { ...entry, hash: await chainHash(last.hash, entry) };
}

/** Whether `entries` (in seq order, all that is kept) follow `anchor` without a gap or a changed byte. */
export async function verifyChain(anchor: AuditAnchor, entries: readonly AuditEntry[]): Promise<"valid" | "broken"> {
  let previous = anchor;
  for (const entry of entries) {
    if (entry.seq !== previous.seq + 1) return "broken";
    const { hash, ...fields } = entry;
    if ((await chainHash(previous.hash, fields)) !== hash) return "broken";
    previous = entry;
  }
  return "valid";
}

/** A page of a connection's audit trail, with the whole kept chain checked. */
export interface AuditPage {
  /** Whose connection it is (a tombstone's too): a caller limited to customers is checked on it. */
  customer_id: string | null;
  entries: AuditEntry[];
  /** Pass back as `afterSeq` for the next page; null on the last. */
  next_after: number | null;
  /** Every kept entry checked against the chain, on this read. */
  chain: "valid" | "broken";
  /** The first seq still kept (older entries were dropped; their last hash anchors the chain). */
  retained_from: number;
}
