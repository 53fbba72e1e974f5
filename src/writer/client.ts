import type { Env } from "../env";
import { ConfigError } from "../errors";
import { objectCall } from "../lib/object-call";
import type { Trace } from "../lib/trace";
import { type Caller, type Command, callerOf, type Writers, writerOver } from "./commands";
import { type Outcome, unwrap } from "./protocol";

/**
 * Callers' handle on a connection's writer: the Durable Object (one per connection id) in the
 * Worker, or writer instances in this isolate (the simulation, the benchmark), through the same
 * command and Outcome encoding either way. Each call carries its Caller (the trace's actor and
 * request id), which the audit trail records.
 */
export function durableWriters(env: Env): Writers {
  const ns = env.CONNECTION_WRITER;
  if (!ns || typeof ns.idFromName !== "function") {
    throw new ConfigError("CONNECTION_WRITER", "Durable Object binding is missing");
  }
  return (id) =>
    // A stub is cheap, and one whose object was reset stays broken: each call gets its own.
    writerOver((command, trace) =>
      remote(trace, () => ns.get(ns.idFromName(id)).execute(id, command, callerOf(trace))),
    );
}

async function remote<T>(trace: Trace, call: () => Promise<unknown>): Promise<T> {
  const outcome = (await objectCall("connection writer", call)) as Outcome<T>;
  return unwrap(outcome, trace);
}

/** What runs a command for a connection in this isolate (WriterHost, or a test's wrapper of it). */
export interface LocalHost {
  run(connectionId: string, command: Command, caller: Caller): Promise<Outcome<unknown>>;
}

/**
 * The same interface over writer instances in this isolate (no Durable Object in between): the
 * simulation and the benchmark. `hostOf` returns the instance serving an id now; a call that
 * throws (an instance reset under it) is storage_unavailable, as the Durable Object's is.
 */
export function inProcessWriters(hostOf: (id: string) => LocalHost): Writers {
  return (id) => writerOver((command, trace) => remote(trace, () => hostOf(id).run(id, command, callerOf(trace))));
}
