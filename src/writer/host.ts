import type { EventSinks } from "../app-events/outbox";
import { AppError } from "../errors";
import type { FinchSettings } from "../finch/http";
import { newTrace, type Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connection-store";
import { type Caller, type Command, execute } from "./commands";
import { WriterOperations } from "./operations";
import { OwedWrites } from "./owed";
import { type Outcome, settle } from "./protocol";
import type { WriterStorage } from "./state";

/** The outbox of lifecycle events, as the host hands it over (app-events/outbox-table.ts). */
export interface OutboxPort {
  pending(): number;
  flush(sinks: EventSinks): Promise<{ sent: number; remaining: number }>;
}

export interface HostDeps {
  storage: WriterStorage;
  outbox: OutboxPort;
  /** KV at the writer's location, with the key ring. */
  store: ConnectionStore;
  /** The app's queues; throws config_invalid when APP_WEBHOOK_* is set but broken. */
  sinks: () => EventSinks;
  finch: () => FinchSettings;
  /** The webhook fan-out queue, when bound. */
  events: () => Queue<unknown> | undefined;
  now: () => number;
  /** How a KV attempt's timeout is awaited (tests pass a schedulable one); setTimeout by default. */
  wait?: (ms: number) => Promise<void>;
}

/** How long events wait in the outbox after a failed hand-off before the alarm tries again. */
export const OUTBOX_RETRY_MS = 60_000;

const errorName = (e: unknown) => (e instanceof AppError ? e.code : e instanceof Error ? e.name : "non-error");

/**
 * One instance of a connection's writer, whatever runs it: the Durable Object (object.ts), the
 * consistency simulation, the benchmark. It holds what an instance loses on a reset: the
 * operations' logic with its memory (WriterOperations), the KV attempts in flight (OwedWrites), and
 * when a failed hand-off is retried. Everything else is in `storage`.
 *
 * After every operation, and on the alarm: what is owed to KV is sent (a few rounds), the
 * outbox is handed to the app's queues, and the alarm is set for what is left, or removed.
 * None of that fails the operation: it committed, and the caller would retry what already
 * happened.
 */
export class WriterHost {
  readonly owed: OwedWrites;
  #core: WriterOperations | undefined;
  #id: string | undefined;
  /** The trace of the call running now, for notes of the KV attempts it makes. */
  #trace: Trace | undefined;
  #outboxRetryAt: number | undefined;
  #forwardRetryAt: number | undefined;

  constructor(private readonly deps: HostDeps) {
    this.owed = new OwedWrites(deps.storage, deps.store, {
      now: deps.now,
      note: (text) => this.#trace?.notes.push(text),
      ...(deps.wait ? { wait: deps.wait } : {}),
    });
  }

  /** The operations for `connectionId`; an instance serves one connection only. */
  core(connectionId: string): WriterOperations {
    if (this.#core && this.#id === connectionId) return this.#core;
    if (this.#core) throw new AppError("internal_error", "writer addressed with another connection id");
    const { storage, store, finch, events, now } = this.deps;
    this.#id = connectionId;
    this.#core = new WriterOperations({
      connectionId,
      storage,
      store,
      owed: this.owed,
      finch,
      events,
      now: () => new Date(now()),
    });
    return this.#core;
  }

  /**
   * One command: its value or error as an Outcome, then what it owes is settled. The writer's
   * trace speaks for the caller (its actor and request id, for the audit trail).
   */
  async run(connectionId: string, command: Command, caller: Caller): Promise<Outcome<unknown>> {
    const trace = newTrace(caller.requestId);
    trace.actor = caller.actor;
    this.#trace = trace;
    const outcome = await settle(trace, () => execute(this.core(connectionId), command, trace));
    await this.settleOwed(outcome.trace.notes);
    return outcome;
  }

  async alarm(): Promise<string[]> {
    this.deps.storage.alarmFired();
    const notes: string[] = [];
    await this.settleOwed(notes);
    return notes;
  }

  private async settleOwed(notes: string[]): Promise<void> {
    const { owed, deps } = this;
    await owed.drain();
    if (owed.pending() > 0) notes.push(`kv writes owed: ${owed.pending()}, finished by the alarm`);
    await this.publish(notes);
    const due = [
      owed.nextDue(),
      deps.outbox.pending() > 0 ? (this.#outboxRetryAt ?? deps.now()) : undefined,
      deps.storage.forwards(1).length > 0 ? (this.#forwardRetryAt ?? deps.now()) : undefined,
    ].filter((at): at is number => at !== undefined);
    deps.storage.setAlarm(due.length ? Math.max(deps.now(), Math.min(...due)) : undefined);
  }

  /** Hands pending events to the app's queues (and webhook messages to EVENTS); with none configured the rows are cleared. */
  private async publish(notes: string[]): Promise<void> {
    const { outbox, now } = this.deps;
    await this.forward(notes);
    if (outbox.pending() === 0) return;
    try {
      const { sent, remaining } = await outbox.flush(this.deps.sinks());
      if (sent > 0) notes.push(`app events handed over: ${sent}`);
      this.#outboxRetryAt = remaining === 0 ? undefined : now();
    } catch (e) {
      notes.push(`app events kept in the outbox (${errorName(e)}): retried by the alarm`);
      console.log(JSON.stringify({ level: "warn", msg: "event_outbox_flush_failed", code: errorName(e) }));
      this.#outboxRetryAt = now() + OUTBOX_RETRY_MS;
    }
  }

  /**
   * Finch's webhook messages to the EVENTS queue, as committed with the change they caused, in
   * order; a failed send keeps it and the rest for the alarm. Without the queue bound there is
   * nobody to forward to. Delivery is at least once: consumers dedupe on `event_id`.
   */
  private async forward(notes: string[]): Promise<void> {
    const { storage, events, now } = this.deps;
    for (let sent = 0; sent < 100; sent++) {
      const [row] = storage.forwards(1);
      if (!row) return;
      try {
        await events()?.send(row.message, { contentType: "json" });
      } catch {
        notes.push("webhook message kept: EVENTS send failed, retried by the alarm");
        this.#forwardRetryAt = now() + OUTBOX_RETRY_MS;
        return;
      }
      storage.dropForwards(row.seq);
      this.#forwardRetryAt = undefined;
    }
  }
}
