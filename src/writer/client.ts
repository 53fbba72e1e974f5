import type { Env } from "../env";
import { AppError, ConfigError } from "../errors";
import { newTrace, type Trace } from "../lib/trace";
import type { WriterCore } from "./core";
import type { ConnectionWriter } from "./object";
import { type Outcome, settle, unwrap, type Writer, type Writers } from "./protocol";

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
    const stub = ns.get(ns.idFromName(id));
    return {
      connect: (input, trace) => remote(trace, () => stub.completeConnect(id, input)),
      importConnection: (input, trace) => remote(trace, () => stub.importConnection(id, input)),
      current: (trace) => remote(trace, () => stub.current(id)),
      refresh: (trace, reason) => remote(trace, () => stub.refresh(id, reason)),
      prompt: (eventId, message, trace) => remote(trace, () => stub.prompt(id, eventId, message)),
      jobCompleted: (eventId, job, message, trace) => remote(trace, () => stub.jobCompleted(id, eventId, job, message)),
      reconcile: (maxAgeMs, trace) => remote(trace, () => stub.reconcile(id, maxAgeMs)),
      staleToken: (tokenGen, reauth, trace) => remote(trace, () => stub.staleToken(id, tokenGen, reauth)),
      disconnect: (trace) => remote(trace, () => stub.disconnect(id)),
      reseal: (trace) => remote(trace, () => stub.reseal(id)),
    };
  };
}

async function remote<T>(trace: Trace, call: () => Promise<unknown>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = (await call()) as Outcome<T>;
  } catch {
    // The object could not be reached, or was reset mid-call: the caller may try again.
    throw new AppError("storage_unavailable", "connection writer unreachable");
  }
  return unwrap(outcome, trace);
}

/** The same interface over a WriterCore in this isolate (no Durable Object in between). */
export function localWriter(core: WriterCore): Writer {
  return {
    connect: (input, trace) => local(trace, (t) => core.connect(input, t)),
    importConnection: (input, trace) => local(trace, (t) => core.importConnection(input, t)),
    current: (trace) => local(trace, (t) => core.current(t)),
    refresh: (trace, reason) => local(trace, (t) => core.refresh(t, reason)),
    prompt: (eventId, message, trace) => local(trace, (t) => core.prompt(eventId, message, t)),
    jobCompleted: (eventId, job, message, trace) => local(trace, (t) => core.jobCompleted(eventId, job, message, t)),
    reconcile: (maxAgeMs, trace) => local(trace, (t) => core.reconcile(maxAgeMs, t)),
    staleToken: (tokenGen, reauth, trace) => local(trace, (t) => core.staleToken(tokenGen, reauth, t)),
    disconnect: (trace) => local(trace, (t) => core.disconnect(t)),
    reseal: (trace) => local(trace, (t) => core.reseal(t)),
  };
}

async function local<T>(trace: Trace, work: (inner: Trace) => Promise<T>): Promise<T> {
  const inner = newTrace("writer");
  return unwrap(await settle(inner, () => work(inner)), trace);
}
