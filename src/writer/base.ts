import type { FinchSettings } from "../config";
import { AppError } from "../errors";
import type { AppEvent } from "../events/model";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import type { StoredConnection } from "../storage/records";
import { type Cause, changeEvents } from "./emit";
import type { WriterState, WriterStorage } from "./state";

export interface WriterDeps {
  connectionId: string;
  storage: WriterStorage;
  /** KV as seen from where the writer runs. */
  store: ConnectionStore;
  finch: () => FinchSettings;
  /** The webhook fan-out queue, when bound. */
  events: () => Queue<unknown> | undefined;
  now: () => Date;
}

/**
 * What every writer operation (core.ts) stands on: the committed state (memory, else the
 * writer's storage, else adopted once from KV), the lock that runs changes one at a time, and
 * `commit`, the one way a changed record is stored, with its lifecycle event.
 */
export class WriterBase {
  #state: WriterState | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(protected readonly deps: WriterDeps) {}

  /**
   * The state, from memory, else the writer's storage, else (once) adopted from KV. Whatever
   * a change committed while this was reading wins over what it read.
   */
  protected async load(trace: Trace): Promise<WriterState | undefined> {
    if (this.#state) return this.#state;
    const saved = await this.deps.storage.load();
    if (this.#state) return this.#state;
    if (saved) {
      this.#state = saved;
      return saved;
    }
    const found = await this.deps.store.get(this.deps.connectionId);
    if (this.#state) return this.#state;
    // Never connected: nothing is stored, here or in KV.
    if (!found) return undefined;
    const gen = found.gen ?? 0;
    const adopted: WriterState = { kind: "live", record: { ...found, gen, token_gen: found.token_gen ?? gen } };
    this.#state = adopted;
    await this.deps.storage.save(adopted);
    trace.notes.push(`writer adopted the KV record at generation ${gen}`);
    return adopted;
  }

  protected exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes a changed record: KV first (so a failure leaves both as they were), then the state
   * with the change's lifecycle event (emit.ts) in one transaction. The event is built before
   * anything is written, so a change is never stored without it. `checked`: the change is
   * Finch's introspect answer (the reconciliation's clock restarts).
   */
  protected async commit(record: StoredConnection, isNew: boolean, cause: Cause, checked = false) {
    const before = this.#state;
    const at = this.deps.now().toISOString();
    const events = changeEvents(before, record, cause, at);
    if (isNew) await this.deps.store.create(record);
    else await this.deps.store.replace(record);
    const checkedAt = checked ? at : before?.kind === "live" ? before.checked_at : undefined;
    const state: WriterState = { kind: "live", record, ...(checkedAt ? { checked_at: checkedAt } : {}) };
    await this.deps.storage.save(state, events);
    this.#state = state;
    return record;
  }

  /** A state that is not a record change (a marker, a tombstone with its event), held and saved. */
  protected async keep(state: WriterState, events: readonly AppEvent[] = []): Promise<void> {
    this.#state = state;
    await this.deps.storage.save(state, events);
  }

  protected async live(trace: Trace): Promise<StoredConnection> {
    const state = await this.load(trace);
    if (state?.kind !== "live") throw new AppError("connection_not_found", `connection ${this.deps.connectionId}`);
    return state.record;
  }

  /** Finch answered, nothing changed: only the writer's own clock for the reconciliation moves (no KV write). */
  protected markChecked(record: StoredConnection): Promise<void> {
    return this.keep({ kind: "live", record, checked_at: this.deps.now().toISOString() });
  }

  /** The committed state, as this writer holds it now (for diagnostics and the simulation's checks). */
  get committed(): WriterState | undefined {
    return this.#state;
  }
}
