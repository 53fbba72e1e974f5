import type { KvWrite, ListingMetadata } from "../storage/connection-store";

/**
 * The KV writes a connection's writer owes (docs/consistency.md, "The commit point").
 *
 * A change is committed in the writer's own storage first, with one row here per KV key it
 * must write; only then are the writes sent to KV. KV is a copy the writer owes and repairs:
 * a write can fail, land and still report failure, time out, or be cut off by a reset of the
 * object, and each row stays until KV is known to hold it. The object's alarm retries what is
 * left, with backoff, for as long as it takes.
 *
 * Never an older generation over a newer one. A key's row always holds the newest write for
 * that key (a commit replaces it), attempts on one key run one at a time, and an attempt whose
 * outcome is unknown (it failed, timed out, or its object was reset) may still land later. So
 * a success proves KV final only if it started at or after `clean_from`: the moment every
 * earlier unconfirmed attempt on that key has either landed or never will. We take that to be
 * KV_SETTLE_MS after the attempt started (a KV write is one request: it lands within a minute
 * or not at all); a success that started earlier is repeated once at `clean_from`.
 */
export interface OwedRow {
  key: string;
  /** The connection generation this write belongs to. */
  gen: number;
  /** The value to put, or null to delete. */
  value: string | null;
  metadata: ListingMetadata | undefined;
  /** Failed attempts at this generation. */
  attempts: number;
  /** Not tried again before this instant (ms). */
  due_at: number;
  /** When the attempt whose outcome is not recorded yet started, of whatever generation; null if none. */
  sent_at: number | null;
  /** A success proves the key final only if its attempt started at or after this (ms). */
  clean_from: number;
}

/** Where owed rows are kept: the writer's SQLite (WriterStorage), in the same commits as its state. */
export interface OwedStorage {
  /** The owed KV writes, by key. */
  owed(): OwedRow[];
  owedRow(key: string): OwedRow | undefined;
  /** Replaces one owed row (bookkeeping of an attempt). */
  putOwed(row: OwedRow): void;
  /** Drops the row of `key`, if it is still of generation `gen` (a newer one stays owed). */
  dropOwed(key: string, gen: number): void;
}

/** A single KV request is abandoned after this long (its outcome is then unknown). */
export const KV_ATTEMPT_TIMEOUT_MS = 5_000;
/** An unconfirmed KV write lands within this long after it was sent, or never. */
export const KV_SETTLE_MS = 60_000;
/** Backoff between failed attempts: 5 s doubling, at most 5 minutes. */
const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 300_000;

export const retryDelayMs = (attempts: number) =>
  Math.min(FIRST_RETRY_MS * 2 ** Math.min(Math.max(attempts, 1) - 1, 16), MAX_RETRY_MS);

export interface KvApplier {
  /** Sends one write, once; throws if KV did not confirm it. */
  apply(write: KvWrite): Promise<void>;
}

export interface OwedOptions {
  now: () => number;
  /** Notes for the log line of the call that ran an attempt (ids and codes only). */
  note?: (text: string) => void;
  /** How long one attempt may take before its outcome counts as unknown. */
  timeoutMs?: number;
  /** How that timeout is awaited (the simulation schedules it); a timer by default. */
  wait?: (ms: number) => Promise<void>;
}

/**
 * Sends owed writes and records what became of them. One per object instance (its memory of
 * the attempts in flight is what a reset loses; `adopt` turns the rows such attempts left
 * into unknown outcomes). Every storage call is synchronous, so no bookkeeping interleaves.
 */
export class OwedWrites {
  readonly #inflight = new Map<string, Promise<void>>();
  #adopted = false;

  constructor(
    private readonly storage: OwedStorage,
    private readonly kv: KvApplier,
    private readonly options: OwedOptions,
  ) {}

  /**
   * The rows a commit stores for `writes` at generation `gen`. A key with no attempt in flight
   * is marked as sent now, and `kick` must send it right after the commit; a busy key waits
   * for its attempt to settle (its row keeps that attempt's start).
   */
  plan(writes: readonly KvWrite[], gen: number): OwedRow[] {
    this.adopt();
    const now = this.options.now();
    return writes.map((write) => {
      const prev = this.storage.owedRow(write.key);
      const busy = this.#inflight.has(write.key);
      return {
        key: write.key,
        gen,
        value: write.value,
        metadata: write.metadata,
        attempts: 0,
        due_at: now,
        sent_at: busy ? (prev?.sent_at ?? null) : now,
        clean_from: prev?.clean_from ?? 0,
      };
    });
  }

  /** Sends the rows a commit just stored as sent (synchronously, so their `sent_at` is true). */
  kick(rows: readonly OwedRow[]): void {
    for (const row of rows) {
      if (row.sent_at !== null && !this.#inflight.has(row.key)) this.#send(row, row.sent_at);
    }
  }

  /** Sends every due row with no attempt in flight; resolves once those attempts settled. */
  async flush(): Promise<void> {
    this.adopt();
    const now = this.options.now();
    const started: Promise<void>[] = [];
    for (const row of this.storage.owed()) {
      if (this.#inflight.has(row.key) || row.due_at > now) continue;
      // Recorded before it is sent: after a reset, this row says an attempt may be on its way.
      const sending = { ...row, sent_at: now };
      this.storage.putOwed(sending);
      started.push(this.#send(sending, now));
    }
    await Promise.all(started);
  }

  /** Resolves once every attempt in flight has settled (each is bounded by the timeout). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight.values()]);
  }

  /**
   * Sends what is due and waits for it, a few rounds (a row that became due when an older
   * attempt on its key settled goes out in the next round). What is still owed after that
   * waits for the alarm.
   */
  async drain(rounds = 3): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      await this.settled();
      const now = this.options.now();
      if (!this.storage.owed().some((r) => r.due_at <= now && !this.#inflight.has(r.key))) return;
      await this.flush();
    }
  }

  /** The earliest instant an owed row is due, if any is owed. */
  nextDue(): number | undefined {
    const rows = this.storage.owed();
    return rows.length === 0 ? undefined : Math.min(...rows.map((r) => r.due_at));
  }

  pending(): number {
    return this.storage.owed().length;
  }

  /**
   * Once per instance, before its first attempt: rows that say an attempt was sent, with
   * none in flight here, were sent by an instance that is gone. Their outcome is unknown.
   */
  adopt(): void {
    if (this.#adopted) return;
    this.#adopted = true;
    for (const row of this.storage.owed()) {
      if (row.sent_at === null) continue;
      this.storage.putOwed({
        ...row,
        sent_at: null,
        clean_from: Math.max(row.clean_from, row.sent_at + KV_SETTLE_MS),
        due_at: this.options.now(),
      });
    }
  }

  #send(row: OwedRow, startedAt: number): Promise<void> {
    const write: KvWrite = { key: row.key, value: row.value, ...(row.metadata ? { metadata: row.metadata } : {}) };
    const attempt = this.#attempt(write)
      .then((ok) => {
        this.#inflight.delete(row.key);
        this.#record(row.key, row.gen, startedAt, ok);
      })
      // The storage could not record the outcome (the object is going away): the row still
      // says the attempt was sent, which the next instance reads as an unknown outcome.
      .catch(() => this.options.note?.("kv attempt outcome not recorded"));
    this.#inflight.set(row.key, attempt);
    return attempt;
  }

  async #attempt(write: KvWrite): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ms = this.options.timeoutMs ?? KV_ATTEMPT_TIMEOUT_MS;
    const wait = this.options.wait;
    const timeout = wait
      ? wait(ms).then(() => "timeout" as const)
      : new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), ms);
        });
    try {
      const outcome = await Promise.race([this.kv.apply(write).then(() => "ok" as const), timeout]);
      if (outcome === "timeout") this.options.note?.("kv write timed out: owed, retried by the alarm");
      return outcome === "ok";
    } catch {
      this.options.note?.("kv write failed: owed, retried by the alarm");
      return false;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  #record(key: string, gen: number, startedAt: number, ok: boolean): void {
    const row = this.storage.owedRow(key);
    if (!row) return;
    const now = this.options.now();
    if (ok && row.gen === gen && startedAt >= row.clean_from) {
      this.storage.dropOwed(key, gen);
      return;
    }
    // Unconfirmed: it may land up to KV_SETTLE_MS after it started.
    const clean_from = ok ? row.clean_from : Math.max(row.clean_from, startedAt + KV_SETTLE_MS);
    const failedHere = !ok && row.gen === gen;
    const attempts = failedHere ? row.attempts + 1 : row.attempts;
    let due_at = now;
    if (failedHere) due_at = now + retryDelayMs(attempts);
    // Landed, but an older unconfirmed attempt may still land over it: once more at clean_from.
    else if (row.gen === gen) due_at = clean_from;
    this.storage.putOwed({ ...row, sent_at: null, clean_from, attempts, due_at });
  }
}
