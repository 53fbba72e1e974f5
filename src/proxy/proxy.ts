import { type Customers, customerAllowed, ensureCustomer } from "../access/customers";
import { AppError } from "../errors";
import { type FinchSettings, parseErrorBody, sendToFinch } from "../finch/http";
import { productOf } from "../finch/products";
import { readBounded } from "../lib/body";
import type { Trace } from "../lib/trace";
import { finch429Pause, type RateBudgetPort } from "../rate-budget/slot";
import type { ConnectionStore } from "../storage/connection-store";
import type { Writers } from "../writer/commands";
import { boundedBody, replayable, tooLarge } from "./body";
import { responseHeaders, upstreamHeaders } from "./headers";
import { finchTarget, isReservedPath } from "./path";

/**
 * Calls Finch with a stored connection's token on behalf of the app: the HTTP proxy and the
 * RPC `fetchFinch` both end here. Method, path, query and body pass through; the caller's
 * credentials and the edge's own headers do not. One KV read and one upstream call per
 * request, and no call to the connection's writer, except to heal a stale read.
 *
 * A connection KV does not know here yet (created elsewhere within the minute) is asked of its
 * writer. And KV may serve a token up to a minute old after a
 * re-authentication elsewhere. When Finch answers 401, the writer is asked once (it also
 * records Finch's reauthenticate_user); if it holds a newer token, the call is sent once more
 * with it. A 401 means Finch did not act on the request, so the repeat cannot do anything
 * twice. That needs the body again: bodies with a declared length (at most 1 MiB, the limit
 * anyway) are buffered; a streamed body of unknown length passes the 401 through.
 */
const PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

export interface ProxyCall {
  connectionId: string;
  method: string;
  /** Path below the Finch base URL, percent-encoded as received, starting with "/". */
  path: string;
  /** "" or "?..." as received. */
  search: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | string | null;
  /** The declared Content-Length of a streamed body, when there was one. */
  bodyLength?: number | undefined;
}

export interface ProxyDeps {
  finch: FinchSettings;
  store: ConnectionStore;
  writers: Writers;
  /** The app-wide Finch rate budget (src/rate-budget/slot.ts); absent when FINCH_RATE_BUDGET=off. */
  budget?: RateBudgetPort | undefined;
  /** A caller limited to these customers (undefined or absent: every customer). */
  customers?: Customers;
}

const ERROR_PEEK_LIMIT = 16 * 1024;

export async function proxyToFinch(deps: ProxyDeps, call: ProxyCall, trace: Trace): Promise<Response> {
  trace.connectionId = call.connectionId;
  if (!(PROXY_METHODS as readonly string[]).includes(call.method)) {
    throw new AppError("method_not_allowed", `proxy method ${call.method.slice(0, 16)}`, {
      headers: { Allow: PROXY_METHODS.join(", ") },
    });
  }
  const { url, decoded } = finchTarget(deps.finch.baseUrl, call.path, call.search);
  if (isReservedPath(decoded)) throw new AppError("proxy_path_reserved", "proxy path is reserved");
  const tripped = { over: false };
  const body = await boundedBody(call, tripped);
  const budget = deps.budget;
  const product = budget ? productOf(decoded) : undefined;
  const budgeted = budget !== undefined && product !== undefined && budget.budgeted(product);
  const slot = () => (budgeted ? (budget as RateBudgetPort).slot(product as string, call.connectionId) : undefined);
  // The slot is asked for while the token is read (rate-budget/slot.ts): it is the one Durable
  // Object request a proxied call makes, and waiting for KV first would add its latency to
  // every call. A call that does not go out (an unknown connection) gives its slot back.
  const first = slot();
  let stored: Awaited<ReturnType<typeof storedToken>>;
  try {
    stored = await storedToken(deps, call.connectionId, trace);
  } catch (e) {
    await first?.cancel(trace);
    throw e;
  }
  if (first) await first.use(trace);
  const send = async (token: string) => {
    const headers = upstreamHeaders(call.headers, token);
    let res: Response;
    try {
      res = await sendToFinch(deps.finch, { method: call.method, url: url.href, headers, body }, trace);
    } catch (e) {
      if (tripped.over) throw tooLarge();
      throw e;
    }
    if (res.status !== 429 || !budget) return { res, out: res.body };
    // Finch's own 429 passes through as is, and holds the app's calls (finch429Pause).
    const reply = await peekError(res);
    await finch429Pause(budget, budgeted ? product : undefined, reply.finchCode, res.headers, trace);
    return { res, out: reply.body };
  };

  let tokenGen = stored.tokenGen;
  let { res, out } = await send(stored.token);
  for (let healed = false; res.status === 401; healed = true) {
    const reply = await peekError(res);
    out = reply.body;
    const reauth = reply.finchCode === "reauthenticate_user";
    // The caller gets Finch's answer even if asking the writer fails.
    const fresh = await deps
      .writers(call.connectionId)
      .staleToken(tokenGen, reauth, trace)
      .catch(() => void trace.notes.push("writer not reachable after a 401"));
    if (healed || !fresh) break;
    // The writer's record is the authority: a connection this caller may not use (its KV copy
    // here was stale: disconnected, then connected again for another customer) is not retried.
    if (!customerAllowed(deps.customers, fresh.customerId)) {
      trace.notes.push("newer token belongs to a customer outside the caller's: not tried");
      break;
    }
    if (!replayable(body)) {
      trace.notes.push("newer token not tried: the body was streamed");
      break;
    }
    // The retry is another call at Finch: it needs a slot of its own.
    await slot()?.use(trace);
    trace.notes.push("retried once with the writer's newer token");
    await out?.cancel().catch(() => undefined);
    tokenGen = fresh.tokenGen;
    ({ res, out } = await send(fresh.token));
  }
  return new Response(out, { status: res.status, statusText: res.statusText, headers: responseHeaders(res.headers) });
}

/**
 * The token from KV at this location (one read). A connection this location's KV does not
 * know yet (created elsewhere under a minute ago; KV caches the miss too) is asked of its
 * writer, so the app can use a connection as soon as its callback has answered.
 */
async function storedToken(deps: ProxyDeps, connectionId: string, trace: Trace) {
  const record = await deps.store.get(connectionId);
  if (record) {
    // A caller limited to customers is checked on this record.
    ensureCustomer(record, deps.customers);
    return { token: await deps.store.token(record), tokenGen: record.token_gen ?? record.gen ?? 0 };
  }
  const current = await deps.writers(connectionId).current(trace);
  trace.notes.push("not in KV here yet: token from the writer");
  ensureCustomer({ customer_id: current.customerId }, deps.customers);
  return current;
}

/** Finch's error code from a 401 or 429, read from a copy; the caller still gets every byte of the original. */
async function peekError(res: Response): Promise<{ body: ReadableStream<Uint8Array> | null; finchCode?: string }> {
  if (!res.body) return { body: null };
  const [pass, peek] = res.body.tee();
  const text = await readBounded(new Response(peek), ERROR_PEEK_LIMIT);
  const code = text === undefined ? undefined : finchCode(text);
  return code === undefined ? { body: pass } : { body: pass, finchCode: code };
}

function finchCode(text: string): string | undefined {
  try {
    return parseErrorBody(JSON.parse(text)).finchCode;
  } catch {
    return undefined;
  }
}
