import { WorkerEntrypoint } from "cloudflare:workers";
import { getConfig } from "./config";
import {
  accessToken,
  type ConnectionPage,
  disconnectConnection,
  getConnection,
  type Introspected,
  introspectConnection,
  type ListQuery,
  listConnections,
  parseListQuery,
} from "./domain/connections";
import { proxyToFinch } from "./domain/proxy";
import type { Env } from "./env";
import { AppError, ERRORS } from "./errors";
import { CONNECTION_ID } from "./finch/schemas";
import { logTrace, newTrace, type Trace } from "./lib/trace";
import { type FinchCall, toProxyCall } from "./rpc-call";
import { ConnectionStore } from "./storage/connections";
import type { ConnectionFacts } from "./storage/records";
import { durableWriters } from "./writer/client";

/**
 * Workers RPC for other Workers on the same account, through a service binding:
 *   [[services]] binding = "FINCH", service = "finch-connect-edge", entrypoint = "FinchConnections"
 * No API key: a service binding can only be created by someone who can deploy to this
 * account. Same rules as the HTTP API (docs/api.md). Failures throw an Error whose message is
 * "<stable code>: <generic message>", never a detail, token or secret.
 */
export class FinchConnections extends WorkerEntrypoint<Env> {
  getConnection(connectionId: string): Promise<ConnectionFacts> {
    return this.run("getConnection", connectionId, () => getConnection(this.store(), id(connectionId)));
  }

  /** `query` is checked like HTTP input: the type is a promise the caller may not keep. */
  listConnections(query: ListQuery = {}): Promise<ConnectionPage> {
    return this.run("listConnections", undefined, () => listConnections(this.store(), parseListQuery(query ?? {})));
  }

  /** The stored access token, for callers that must call Finch themselves. */
  getAccessToken(connectionId: string): Promise<string> {
    return this.run("getAccessToken", connectionId, (trace) => accessToken(this.writers(), id(connectionId), trace));
  }

  /** Calls Finch with the connection's token, like the HTTP proxy; Finch's answer comes back as is. */
  fetchFinch(connectionId: string, request: Request | FinchCall): Promise<Response> {
    return this.run("fetchFinch", connectionId, (trace) =>
      proxyToFinch(this.deps(), toProxyCall(id(connectionId), request), trace),
    );
  }

  introspect(connectionId: string): Promise<Introspected> {
    return this.run("introspect", connectionId, (trace) =>
      introspectConnection(this.writers(), id(connectionId), trace),
    );
  }

  disconnect(connectionId: string) {
    return this.run("disconnect", connectionId, (trace) =>
      disconnectConnection(this.writers(), id(connectionId), trace),
    );
  }

  private store(): ConnectionStore {
    const config = getConfig(this.env);
    return new ConnectionStore(config.kv(), config.keyRing());
  }

  private deps() {
    return { finch: getConfig(this.env).finch(), store: this.store(), writers: this.writers() };
  }

  /** As for HTTP (http/deps.ts): the writer's storage settings are checked here first. */
  private writers() {
    const config = getConfig(this.env);
    config.kv();
    config.keyRing();
    return durableWriters(this.env);
  }

  /** One log line per call, like the HTTP request log; errors leave with their code only. */
  private async run<T>(method: string, connectionId: unknown, work: (trace: Trace) => Promise<T>): Promise<T> {
    const started = performance.now();
    const trace = newTrace(crypto.randomUUID());
    if (typeof connectionId === "string" && CONNECTION_ID.test(connectionId)) trace.connectionId = connectionId;
    let failure: AppError | undefined;
    try {
      return await work(trace);
    } catch (e) {
      failure = e instanceof AppError ? e : new AppError("internal_error", e instanceof Error ? e.name : "non-error");
      throw new Error(`${failure.code}: ${ERRORS[failure.code].message}`);
    } finally {
      if (failure?.detail) trace.notes.push(failure.detail);
      logTrace(trace, started, {
        level: failure ? (failure.status >= 500 ? "error" : "warn") : "info",
        msg: "rpc",
        request_id: trace.requestId,
        method,
        outcome: failure?.code ?? "ok",
      });
    }
  }
}

function id(value: unknown): string {
  if (typeof value !== "string" || !CONNECTION_ID.test(value)) throw new AppError("param_invalid", "connection_id");
  return value;
}
