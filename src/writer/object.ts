import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError } from "../errors";
import { type EventSinks, eventSinks } from "../events/outbox";
import { EventOutbox } from "../events/outbox-table";
import { newTrace, type Trace } from "../lib/trace";
import { ConnectionStore } from "../storage/connections";
import { WriterCore } from "./core";
import type { StatusReason, SyncJob } from "./emit";
import { type ConnectInput, type ImportInput, type Outcome, settle } from "./protocol";
import { sqlWriterStorage } from "./sql-storage";

const errorName = (e: unknown) => (e instanceof AppError ? e.code : e instanceof Error ? e.name : "non-error");

/** How long events wait in the outbox after a failed hand-off before the alarm tries again. */
const OUTBOX_RETRY_MS = 60_000;

/**
 * ConnectionWriter: one SQLite-backed Durable Object per connection id (idFromName), the only
 * writer of that connection's KV entries. Thin on purpose: each RPC method runs one named
 * operation of WriterCore and answers an Outcome (protocol.ts), never a thrown error. The
 * caller names the connection on every call (an object cannot read the name it was
 * addressed by); a call naming another connection than the first is refused.
 *
 * Lifecycle events: WriterCore stores each change with its events (one transaction, see
 * sql-storage.ts); after every operation the outbox is handed to the app's queues. If that
 * fails (a queue refused, APP_WEBHOOK_* misconfigured) the rows stay and the alarm retries.
 */
export class ConnectionWriter extends DurableObject<Env> {
  #core: WriterCore | undefined;
  #id: string | undefined;
  readonly #outbox: EventOutbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#outbox = new EventOutbox(ctx.storage.sql);
  }

  private core(connectionId: string): WriterCore {
    if (this.#core && this.#id === connectionId) return this.#core;
    if (this.#core) throw new AppError("internal_error", "writer addressed with another connection id");
    const config = getConfig(this.env);
    this.#id = connectionId;
    this.#core = new WriterCore({
      connectionId,
      storage: sqlWriterStorage(this.ctx.storage, this.#outbox),
      store: new ConnectionStore(config.kv(), config.keyRing()),
      finch: () => config.finch(),
      events: () => config.events(),
      now: () => new Date(),
    });
    return this.#core;
  }

  private async run<T>(connectionId: string, work: (core: WriterCore, trace: Trace) => Promise<T>) {
    const trace = newTrace("writer");
    const outcome: Outcome<T> = await settle(trace, () => work(this.core(connectionId), trace));
    // The change is stored whatever happens next: a hand-off that throws must not turn a
    // committed change into a failed call (the caller would retry what already happened).
    // Its events stay in the outbox, and the alarm tries again.
    try {
      await this.publish(outcome.trace.notes);
    } catch (e) {
      outcome.trace.notes.push("app events kept in the outbox: hand-off failed, retried by the alarm");
      console.log(JSON.stringify({ level: "warn", msg: "event_outbox_publish_failed", error: errorName(e) }));
      await this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS).catch(() => undefined);
    }
    return outcome;
  }

  /**
   * Hands pending events to the app's queues. The alarm is set first, so events stored by a
   * writer that is evicted (or crashes) before the hand-off finishes are still sent later.
   * With no queue configured there is nobody to tell: the rows are cleared, no alarm needed.
   */
  private async publish(notes: string[] = []): Promise<void> {
    if (this.#outbox.pending() === 0) return;
    const kept = (e: unknown) => {
      const code = e instanceof AppError ? e.code : "internal_error";
      notes.push(`app events kept in the outbox (${code}): retried by the alarm`);
      console.log(JSON.stringify({ level: "warn", msg: "event_outbox_flush_failed", code }));
    };
    let sinks: EventSinks;
    try {
      sinks = eventSinks(this.env);
    } catch (e) {
      kept(e);
      await this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS);
      return;
    }
    if (!sinks.appQueue && !sinks.webhookQueue) {
      await this.#outbox.flush(sinks);
      return;
    }
    await this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS);
    try {
      const { sent, remaining } = await this.#outbox.flush(sinks);
      if (sent > 0) notes.push(`app events handed over: ${sent}`);
      if (remaining === 0) await this.ctx.storage.deleteAlarm();
    } catch (e) {
      kept(e);
    }
  }

  override async alarm(): Promise<void> {
    await this.publish();
  }

  /** A completed Connect (`connect` itself is the runtime's socket handler name on a Durable Object). */
  completeConnect(connectionId: string, input: ConnectInput) {
    return this.run(connectionId, (core, trace) => core.connect(input, trace));
  }

  importConnection(connectionId: string, input: ImportInput) {
    return this.run(connectionId, (core, trace) => core.importConnection(input, trace));
  }

  current(connectionId: string) {
    return this.run(connectionId, (core, trace) => core.current(trace));
  }

  refresh(connectionId: string, reason?: StatusReason) {
    return this.run(connectionId, (core, trace) => core.refresh(trace, reason));
  }

  prompt(connectionId: string, eventId: string, message: unknown) {
    return this.run(connectionId, (core, trace) => core.prompt(eventId, message, trace));
  }

  jobCompleted(connectionId: string, eventId: string, job: SyncJob, message: unknown) {
    return this.run(connectionId, (core, trace) => core.jobCompleted(eventId, job, message, trace));
  }

  reconcile(connectionId: string, maxAgeMs: number) {
    return this.run(connectionId, (core, trace) => core.reconcile(maxAgeMs, trace));
  }

  staleToken(connectionId: string, tokenGen: number, reauth: boolean) {
    return this.run(connectionId, (core, trace) => core.staleToken(tokenGen, reauth, trace));
  }

  disconnect(connectionId: string) {
    return this.run(connectionId, (core, trace) => core.disconnect(trace));
  }

  reseal(connectionId: string) {
    return this.run(connectionId, (core, trace) => core.reseal(trace));
  }
}
