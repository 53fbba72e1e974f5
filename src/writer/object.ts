import { DurableObject } from "cloudflare:workers";
import { eventSinks } from "../app-events/outbox";
import { EventOutbox } from "../app-events/outbox-table";
import { getConfig } from "../config";
import type { Env } from "../env";
import { newTrace } from "../lib/trace";
import { ConnectionStore } from "../storage/connection-store";
import type { Caller, Command } from "./commands";
import { WriterHost } from "./host";
import { type Outcome, settle } from "./protocol";
import { sqlWriterStorage } from "./sql-storage";

/**
 * ConnectionWriter: one SQLite-backed Durable Object per connection id (idFromName), the only
 * writer of that connection's KV entries. Thin on purpose: its one RPC method runs one command
 * (commands.ts) through the instance's WriterHost (host.ts) and answers an Outcome
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

  execute(connectionId: string, command: Command, caller: Caller): Promise<Outcome<unknown>> {
    let host: WriterHost;
    try {
      host = this.host();
    } catch (e) {
      // A configuration error: answered like any other failure, naming the setting.
      return settle(newTrace(caller.requestId), () => Promise.reject(e));
    }
    return host.run(connectionId, command, caller);
  }

  override async alarm(): Promise<void> {
    const notes = await this.host().alarm();
    if (notes.length) console.log(JSON.stringify({ level: "info", msg: "writer_alarm", notes }));
  }
}
