import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../config";
import type { Env } from "../env";
import { eventSinks } from "../events/outbox";
import { EventOutbox } from "../events/outbox-table";
import { newTrace, type Trace } from "../lib/trace";
import { ConnectionStore } from "../storage/connections";
import type { WriterCore } from "./core";
import type { StatusReason, SyncJob } from "./emit";
import { WriterHost } from "./host";
import { type ConnectInput, type ImportInput, type Outcome, settle } from "./protocol";
import { sqlWriterStorage } from "./sql-storage";

/**
 * ConnectionWriter: one SQLite-backed Durable Object per connection id (idFromName), the only
 * writer of that connection's KV entries. Thin on purpose: each RPC method runs one named
 * operation of WriterCore through the instance's WriterHost (host.ts) and answers an Outcome
 * (protocol.ts), never a thrown error. The caller names the connection on every call (an
 * object cannot read the name it was addressed by); a call naming another connection than the
 * first is refused.
 *
 * Its SQLite storage is the commit point (docs/consistency.md): an operation commits its state,
 * lifecycle events and owed KV writes together, then sends the writes; the alarm finishes what
 * a failure or a reset left.
 */
export class ConnectionWriter extends DurableObject<Env> {
  #host: WriterHost | undefined;

  private host(): WriterHost {
    if (this.#host) return this.#host;
    const config = getConfig(this.env);
    const outbox = new EventOutbox(this.ctx.storage.sql);
    this.#host = new WriterHost({
      storage: sqlWriterStorage(this.ctx.storage, outbox),
      outbox,
      store: new ConnectionStore(config.kv(), config.keyRing()),
      sinks: () => eventSinks(this.env),
      finch: () => config.finch(),
      events: () => config.events(),
      now: () => Date.now(),
    });
    return this.#host;
  }

  private run<T>(connectionId: string, work: (core: WriterCore, trace: Trace) => Promise<T>): Promise<Outcome<T>> {
    let host: WriterHost;
    try {
      host = this.host();
    } catch (e) {
      // A configuration error: answered like any other failure, naming the setting.
      return settle(newTrace("writer"), () => Promise.reject(e));
    }
    return host.run(connectionId, work);
  }

  override async alarm(): Promise<void> {
    const notes = await this.host().alarm();
    if (notes.length) console.log(JSON.stringify({ level: "info", msg: "writer_alarm", notes }));
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

  facts(connectionId: string) {
    return this.run(connectionId, (core, trace) => core.facts(trace));
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
