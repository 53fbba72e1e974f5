import { WorkerEntrypoint } from "cloudflare:workers";
import { getConfig } from "./config";
import { accessToken, disconnectConnection, getConnection, introspectConnection } from "./domain/connections";
import { type ConnectionPage, type ListQuery, listConnections, parseListQuery } from "./domain/listing";
import { proxyToFinch } from "./domain/proxy";
import { rateBudgetPort } from "./durable/budget-port";
import type { Env } from "./env";
import { AppError, ERRORS } from "./errors";
import { CONNECTION_ID } from "./finch/schemas";
import { logTrace, newTrace, type Trace } from "./lib/trace";
import { type FinchCall, toProxyCall } from "./rpc-call";
import { ConnectionStore } from "./storage/connections";
import type { ConnectionFacts } from "./storage/records";
import { durableWriters } from "./writer/client";
import type { Introspected } from "./writer/protocol";

/**
 * Workers RPC for other Workers on the same account, through a service binding:
 *   [[services]] binding = "FINCH", service = "finch-connect-edge", entrypoint = "FinchConnections"
 * No API key: a service binding can only be created by someone who can deploy to this
 * account. Same rules as the HTTP API (docs/api.md). Failures throw an Error whose message is
 * "<stable code>: <generic message>", never a detail, token or secret.
 */
export class FinchConnections extends WorkerEntrypoint<Env> {
  getConnection(connectionId: string): Promise<ConnectionFacts> {
    return run("getConnection", connectionId, () => getConnection(store(this.env), id(connectionId)));
  }

  /** `query` is checked like HTTP input: the type is a promise the caller may not keep. */
  listConnections(query: ListQuery = {}): Promise<ConnectionPage> {
    return run("listConnections", undefined, () => listConnections(store(this.env), parseListQuery(query ?? {})));
  }

  /** The stored access token, for callers that must call Finch themselves. */
  getAccessToken(connectionId: string): Promise<string> {
    return run("getAccessToken", connectionId, (trace) => accessToken(writers(this.env), id(connectionId), trace));
  }

  /** Calls Finch with the connection's token, like the HTTP proxy; Finch's answer comes back as is. */
  fetchFinch(connectionId: string, request: Request | FinchCall): Promise<Response> {
    return run("fetchFinch", connectionId, async (trace) => {
      const config = getConfig(this.env);
      const call = { ...deps(this.env), budget: rateBudgetPort(config.rateBudget()) };
      try {
        return await proxyToFinch(call, toProxyCall(id(connectionId), request), trace);
      } catch (e) {
        // The budget's refusal is an answer like Finch's own 429 (same status and Retry-After),
        // so a caller's retry logic treats both alike; every other failure throws as usual.
        if (e instanceof AppError && e.code === "finch_budget_exhausted") return budgetResponse(e, trace);
        throw e;
      }
    });
  }

  introspect(connectionId: string): Promise<Introspected> {
    return run("introspect", connectionId, (trace) => introspectConnection(writers(this.env), id(connectionId), trace));
  }

  disconnect(connectionId: string) {
    return run("disconnect", connectionId, (trace) => disconnectConnection(writers(this.env), id(connectionId), trace));
  }
}

/*
 * What the entrypoint needs but callers must not reach: every public method of the class
 * above (TypeScript `private` included) is callable over RPC, so these live outside it.
 * test/rpc-surface.test.ts checks that the class exposes exactly the methods docs/api.md lists.
 */
function store(env: Env): ConnectionStore {
  const config = getConfig(env);
  return new ConnectionStore(config.kv(), config.keyRing());
}

function deps(env: Env) {
  return { finch: getConfig(env).finch(), store: store(env), writers: writers(env) };
}

/** As for HTTP (http/deps.ts): the writer's storage settings are checked here first. */
function writers(env: Env) {
  const config = getConfig(env);
  config.kv();
  config.keyRing();
  return durableWriters(env);
}

/** One log line per call, like the HTTP request log; errors leave with their code only. */
async function run<T>(method: string, connectionId: unknown, work: (trace: Trace) => Promise<T>): Promise<T> {
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
      outcome: failure?.code ?? trace.outcome ?? "ok",
    });
  }
}

function budgetResponse(e: AppError, trace: Trace): Response {
  trace.outcome = e.code;
  if (e.detail) trace.notes.push(e.detail);
  const body = { error: { code: e.code, message: ERRORS[e.code].message, request_id: trace.requestId } };
  return Response.json(body, { status: e.status, headers: e.headers });
}

function id(value: unknown): string {
  if (typeof value !== "string" || !CONNECTION_ID.test(value)) throw new AppError("param_invalid", "connection_id");
  return value;
}
