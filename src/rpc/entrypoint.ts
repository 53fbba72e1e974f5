import { RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import { KEY_NAME } from "../access/api-keys";
import { namedPrincipal, type Principal, RPC_PRINCIPAL } from "../access/principal";
import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError, errorBody, publicMessage, toAppError } from "../errors";
import { logTrace, newTrace, type Trace } from "../lib/trace";
import * as ops from "../operations/connections";
import type { OperationContext } from "../operations/context";
import type { ConnectionPage, ListQuery } from "../operations/listing";
import { proxyFinch } from "../operations/proxy";
import type { ConnectionFacts } from "../storage/records";
import type { Disconnected, Introspected } from "../writer/commands";
import { type FinchCall, toProxyCall } from "./call";
import { FinchRpcError } from "./error";

/**
 * Workers RPC for other Workers on the same account, through a service binding:
 *   [[services]] binding = "FINCH", service = "finch-connect-edge", entrypoint = "FinchConnections"
 * No API key: a service binding can only be created by someone who can deploy to this
 * account, so the entrypoint itself is unrestricted (actor `rpc`). A caller that should hold
 * less asks for `forKey(name)`: a stub with the same methods, limited to that named API key's
 * scopes and customers. Each method is a thin adapter over the same operation as its HTTP route
 * (src/operations/), so the rules are the same. Failures throw a `FinchRpcError`
 * (src/rpc/error.ts): code, generic message, status and request id, never a detail or secret.
 */
export class FinchConnections extends WorkerEntrypoint<Env> {
  getConnection(connectionId: string): Promise<ConnectionFacts> {
    return methods.getConnection(this.env, RPC_PRINCIPAL, connectionId);
  }

  /** `query` is checked like HTTP input: the type is a promise the caller may not keep. */
  listConnections(query: ListQuery = {}): Promise<ConnectionPage> {
    return methods.listConnections(this.env, RPC_PRINCIPAL, query);
  }

  /** The stored access token, for callers that must call Finch themselves. */
  getAccessToken(connectionId: string): Promise<string> {
    return methods.getAccessToken(this.env, RPC_PRINCIPAL, connectionId);
  }

  /** Calls Finch with the connection's token, like the HTTP proxy; Finch's answer comes back as is. */
  fetchFinch(connectionId: string, request: Request | FinchCall): Promise<Response> {
    return methods.fetchFinch(this.env, RPC_PRINCIPAL, connectionId, request);
  }

  introspect(connectionId: string): Promise<Introspected> {
    return methods.introspect(this.env, RPC_PRINCIPAL, connectionId);
  }

  disconnect(connectionId: string): Promise<Disconnected> {
    return methods.disconnect(this.env, RPC_PRINCIPAL, connectionId);
  }

  /**
   * The same methods, limited to the named API key's scopes and customers (API_KEYS in its JSON
   * form). A name that is not configured fails closed (`unauthorized`); the key itself is not needed.
   */
  forKey(name: string): Promise<KeyConnections> {
    const env = this.env;
    return run(env, RPC_PRINCIPAL, "forKey", async () => new KeyConnections(env, namedKey(env, name)));
  }
}

/** What `forKey` returns: the entrypoint's methods as one named key may use them (actor: the key's name). */
export class KeyConnections extends RpcTarget {
  readonly #env: Env;
  readonly #principal: Principal;

  constructor(env: Env, principal: Principal) {
    super();
    this.#env = env;
    this.#principal = principal;
  }

  getConnection(connectionId: string): Promise<ConnectionFacts> {
    return methods.getConnection(this.#env, this.#principal, connectionId);
  }

  listConnections(query: ListQuery = {}): Promise<ConnectionPage> {
    return methods.listConnections(this.#env, this.#principal, query);
  }

  getAccessToken(connectionId: string): Promise<string> {
    return methods.getAccessToken(this.#env, this.#principal, connectionId);
  }

  fetchFinch(connectionId: string, request: Request | FinchCall): Promise<Response> {
    return methods.fetchFinch(this.#env, this.#principal, connectionId, request);
  }

  introspect(connectionId: string): Promise<Introspected> {
    return methods.introspect(this.#env, this.#principal, connectionId);
  }

  disconnect(connectionId: string): Promise<Disconnected> {
    return methods.disconnect(this.#env, this.#principal, connectionId);
  }
}

/*
 * What the entrypoint needs but callers must not reach: every public method of the class
 * above (TypeScript `private` included) is callable over RPC, so these live outside it.
 * test/rpc/surface.test.ts checks that both classes expose exactly the methods docs/api.md lists.
 */

/** Each method once, for the entrypoint (unrestricted) and for a named key's stub. */
const methods = {
  getConnection: (env: Env, who: Principal, connectionId: unknown) =>
    run(env, who, "getConnection", (ctx) => ops.getConnection(ctx, byId(connectionId))),
  listConnections: (env: Env, who: Principal, query: unknown) =>
    run(env, who, "listConnections", (ctx) => ops.listConnections(ctx, listInput(query))),
  getAccessToken: (env: Env, who: Principal, connectionId: unknown) =>
    run(env, who, "getAccessToken", async (ctx) => (await ops.getAccessToken(ctx, byId(connectionId))).access_token),
  fetchFinch: (env: Env, who: Principal, connectionId: unknown, request: unknown) =>
    run(env, who, "fetchFinch", async (ctx) => {
      try {
        return await proxyFinch(ctx, byId(connectionId), toProxyCall(request));
      } catch (e) {
        // The budget's answers (429 spent, 503 unreachable) are answers like Finch's own 429 and
        // 503 (same status and Retry-After), so a caller's retry logic treats them alike; every
        // other failure throws as usual.
        if (e instanceof AppError && BUDGET_ANSWERS.has(e.code)) return budgetResponse(e, ctx.trace);
        throw e;
      }
    }),
  introspect: (env: Env, who: Principal, connectionId: unknown) =>
    run(env, who, "introspect", (ctx) => ops.introspectConnection(ctx, byId(connectionId))),
  disconnect: (env: Env, who: Principal, connectionId: unknown) =>
    run(env, who, "disconnect", (ctx) => ops.disconnectConnection(ctx, byId(connectionId))),
};

/** The named key's principal; a name that is not configured is refused like a wrong key. */
function namedKey(env: Env, name: unknown): Principal {
  const key =
    typeof name === "string" && KEY_NAME.test(name)
      ? getConfig(env)
          .apiKeys()
          .find((k) => k.name === name)
      : undefined;
  if (!key?.name) throw new AppError("unauthorized", "forKey: no API key of that name");
  return namedPrincipal({ ...key, name: key.name });
}

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
async function run<T>(
  env: Env,
  principal: Principal,
  method: string,
  work: (ctx: OperationContext) => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const trace = newTrace(crypto.randomUUID());
  trace.actor = principal.actor;
  let failure: AppError | undefined;
  try {
    return await work({ env, trace, principal });
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
      actor: principal.actor,
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
