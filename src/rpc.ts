import { WorkerEntrypoint } from "cloudflare:workers";
import type { ConnectionPage, ListQuery } from "./domain/listing";
import type { Env } from "./env";
import { AppError, errorBody, publicMessage, toAppError } from "./errors";
import { logTrace, newTrace, type Trace } from "./lib/trace";
import * as ops from "./operations/connections";
import type { OperationContext } from "./operations/context";
import { type FinchCall, toProxyCall } from "./rpc-call";
import { FinchRpcError } from "./rpc-error";
import type { ConnectionFacts } from "./storage/records";
import type { Disconnected, Introspected } from "./writer/protocol";

/**
 * Workers RPC for other Workers on the same account, through a service binding:
 *   [[services]] binding = "FINCH", service = "finch-connect-edge", entrypoint = "FinchConnections"
 * No API key: a service binding can only be created by someone who can deploy to this
 * account. Each method is a thin adapter over the same operation as its HTTP route
 * (src/operations/), so the rules are the same. Failures throw a `FinchRpcError`
 * (src/rpc-error.ts): code, generic message, status and request id, never a detail or secret.
 */
export class FinchConnections extends WorkerEntrypoint<Env> {
  getConnection(connectionId: string): Promise<ConnectionFacts> {
    return run(this.env, "getConnection", (ctx) => ops.getConnection(ctx, byId(connectionId)));
  }

  /** `query` is checked like HTTP input: the type is a promise the caller may not keep. */
  listConnections(query: ListQuery = {}): Promise<ConnectionPage> {
    return run(this.env, "listConnections", (ctx) => ops.listConnections(ctx, listInput(query)));
  }

  /** The stored access token, for callers that must call Finch themselves. */
  getAccessToken(connectionId: string): Promise<string> {
    return run(this.env, "getAccessToken", async (ctx) => {
      return (await ops.getAccessToken(ctx, byId(connectionId))).access_token;
    });
  }

  /** Calls Finch with the connection's token, like the HTTP proxy; Finch's answer comes back as is. */
  fetchFinch(connectionId: string, request: Request | FinchCall): Promise<Response> {
    return run(this.env, "fetchFinch", async (ctx) => {
      try {
        return await ops.proxyFinch(ctx, byId(connectionId), toProxyCall(request));
      } catch (e) {
        // The budget's answers (429 spent, 503 unreachable) are answers like Finch's own 429 and
        // 503 (same status and Retry-After), so a caller's retry logic treats them alike; every
        // other failure throws as usual.
        if (e instanceof AppError && BUDGET_ANSWERS.has(e.code)) return budgetResponse(e, ctx.trace);
        throw e;
      }
    });
  }

  introspect(connectionId: string): Promise<Introspected> {
    return run(this.env, "introspect", (ctx) => ops.introspectConnection(ctx, byId(connectionId)));
  }

  disconnect(connectionId: string): Promise<Disconnected> {
    return run(this.env, "disconnect", (ctx) => ops.disconnectConnection(ctx, byId(connectionId)));
  }
}

/*
 * What the entrypoint needs but callers must not reach: every public method of the class
 * above (TypeScript `private` included) is callable over RPC, so these live outside it.
 * test/rpc-surface.test.ts checks that the class exposes exactly the methods docs/api.md lists.
 */

/** An RPC argument in the operation's input shape (the operation checks it). */
const byId = (connectionId: unknown) => ({ path: { connection_id: connectionId } });

/** RPC's listing query is camelCase; HTTP's is the query string. Same fields, same schema. */
function listInput(query: unknown) {
  if (query === undefined || query === null) return { query: {} };
  if (typeof query !== "object") return { query };
  const q = query as Record<string, unknown>;
  const fields = { customer_id: q.customerId, status: q.status, limit: q.limit, cursor: q.cursor };
  return { query: Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) };
}

/** One log line per call, like the HTTP request log; errors leave as FinchRpcError. */
async function run<T>(env: Env, method: string, work: (ctx: OperationContext) => Promise<T>): Promise<T> {
  const started = performance.now();
  const trace = newTrace(crypto.randomUUID());
  let failure: AppError | undefined;
  try {
    return await work({ env, trace });
  } catch (e) {
    failure = toAppError(e);
    throw new FinchRpcError({
      code: failure.code,
      message: publicMessage(failure),
      status: failure.status,
      request_id: trace.requestId,
    });
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

const BUDGET_ANSWERS: ReadonlySet<string> = new Set(["finch_budget_exhausted", "finch_budget_unavailable"]);

function budgetResponse(e: AppError, trace: Trace): Response {
  trace.outcome = e.code;
  if (e.detail) trace.notes.push(e.detail);
  return Response.json(errorBody(e, trace.requestId), { status: e.status, headers: e.headers });
}
