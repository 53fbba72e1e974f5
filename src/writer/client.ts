import type { Env } from "../env";
import { AppError, ConfigError } from "../errors";
import type { Trace } from "../lib/trace";
import type { WriterCore } from "./core";
import type { WriterHost } from "./host";
import type { ConnectionWriter } from "./object";
import { type Outcome, unwrap, type Writers } from "./protocol";

/**
 * Callers' handle on a connection's writer: the Durable Object (one per connection id) in the
 * Worker, or a WriterCore driven in-process (the consistency simulation), through the same
 * Outcome encoding either way.
 */
export function durableWriters(env: Env): Writers {
  // Typed here rather than in env.ts, which would otherwise import the class it configures.
  const ns = env.CONNECTION_WRITER as DurableObjectNamespace<ConnectionWriter> | undefined;
  if (!ns || typeof ns.idFromName !== "function") {
    throw new ConfigError("CONNECTION_WRITER", "Durable Object binding is missing");
  }
  return (id) => {
    // A stub is cheap, and one whose object was reset stays broken: each call gets its own.
    const object = () => ns.get(ns.idFromName(id));
    return {
      connect: (input, trace) => remote(trace, () => object().completeConnect(id, input)),
      importConnection: (input, trace) => remote(trace, () => object().importConnection(id, input)),
      current: (trace) => remote(trace, () => object().current(id)),
      facts: (trace) => remote(trace, () => object().facts(id)),
      refresh: (trace, reason) => remote(trace, () => object().refresh(id, reason)),
      prompt: (eventId, message, trace) => remote(trace, () => object().prompt(id, eventId, message)),
      jobCompleted: (eventId, job, message, trace) =>
        remote(trace, () => object().jobCompleted(id, eventId, job, message)),
      reconcile: (maxAgeMs, trace) => remote(trace, () => object().reconcile(id, maxAgeMs)),
      staleToken: (tokenGen, reauth, trace) => remote(trace, () => object().staleToken(id, tokenGen, reauth)),
      disconnect: (trace) => remote(trace, () => object().disconnect(id)),
      reseal: (trace) => remote(trace, () => object().reseal(id)),
    };
  };
}

async function remote<T>(trace: Trace, call: () => Promise<unknown>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = (await call()) as Outcome<T>;
  } catch (e) {
    // The object could not be reached, or was reset mid-call: the caller may try again. The
    // error's class names which (its message could carry anything, so it stays out of the log).
    const kind = e instanceof Error ? e.name : "non-error";
    throw new AppError("storage_unavailable", `connection writer unreachable (${kind})`);
  }
  return unwrap(outcome, trace);
}

/**
 * The same interface over writer instances in this isolate (no Durable Object in between): the
 * simulation and the benchmark. `hostOf` returns the instance serving an id now; a call that
 * throws (an instance reset under it) is storage_unavailable, as the Durable Object's is.
 */
export function inProcessWriters(hostOf: (id: string) => WriterHost): Writers {
  return (id) => {
    const call =
      <T>(work: (core: WriterCore, trace: Trace) => Promise<T>) =>
      (trace: Trace): Promise<T> =>
        remote(trace, () => hostOf(id).run(id, work));
    return {
      connect: (input, trace) => call((c, t) => c.connect(input, t))(trace),
      importConnection: (input, trace) => call((c, t) => c.importConnection(input, t))(trace),
      current: call((c, t) => c.current(t)),
      facts: call((c, t) => c.facts(t)),
      refresh: (trace, reason) => call((c, t) => c.refresh(t, reason))(trace),
      prompt: (eventId, message, trace) => call((c, t) => c.prompt(eventId, message, t))(trace),
      jobCompleted: (eventId, job, message, trace) => call((c, t) => c.jobCompleted(eventId, job, message, t))(trace),
      reconcile: (maxAgeMs, trace) => call((c, t) => c.reconcile(maxAgeMs, t))(trace),
      staleToken: (tokenGen, reauth, trace) => call((c, t) => c.staleToken(tokenGen, reauth, t))(trace),
      disconnect: call((c, t) => c.disconnect(t)),
      reseal: call((c, t) => c.reseal(t)),
    };
  };
}
