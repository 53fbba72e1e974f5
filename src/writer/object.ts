import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError } from "../errors";
import { newTrace, type Trace } from "../lib/trace";
import { ConnectionStore } from "../storage/connections";
import { WriterCore } from "./core";
import { type ConnectInput, type ImportInput, type Outcome, settle } from "./protocol";
import { sqlWriterStorage } from "./sql-storage";

/**
 * ConnectionWriter: one SQLite-backed Durable Object per connection id (idFromName), the only
 * writer of that connection's KV entries. Thin on purpose: each RPC method runs one named
 * operation of WriterCore and answers an Outcome (protocol.ts), never a thrown error. The
 * caller names the connection on every call (an object cannot read the name it was
 * addressed by); a call naming another connection than the first is refused.
 */
export class ConnectionWriter extends DurableObject<Env> {
  #core: WriterCore | undefined;
  #id: string | undefined;

  private core(connectionId: string): WriterCore {
    if (this.#core && this.#id === connectionId) return this.#core;
    if (this.#core) throw new AppError("internal_error", "writer addressed with another connection id");
    const config = getConfig(this.env);
    this.#id = connectionId;
    this.#core = new WriterCore({
      connectionId,
      storage: sqlWriterStorage(this.ctx.storage.sql),
      store: new ConnectionStore(config.kv(), config.keyRing()),
      finch: () => config.finch(),
      events: () => config.events(),
      now: () => new Date(),
    });
    return this.#core;
  }

  private run<T>(connectionId: string, work: (core: WriterCore, trace: Trace) => Promise<T>): Promise<Outcome<T>> {
    const trace = newTrace("writer");
    return settle(trace, () => work(this.core(connectionId), trace));
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

  refresh(connectionId: string) {
    return this.run(connectionId, (core, trace) => core.refresh(trace));
  }

  prompt(connectionId: string, eventId: string, message: unknown) {
    return this.run(connectionId, (core, trace) => core.prompt(eventId, message, trace));
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
