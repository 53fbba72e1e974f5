import type { ConnectSettings, FinchSettings } from "../config";
import { constantTimeEqual } from "../crypto/compare";
import { AppError } from "../errors";
import { exchangeCode } from "../finch/api";
import type { Trace } from "../lib/trace";
import type { ConnectionFacts } from "../storage/records";
import { connectInput, type Writers } from "../writer/commands";
import type { DoneFlow, PendingFlow } from "./flow-state";

/**
 * Which flow a callback belongs to. Only the browser that started a flow can finish it: its
 * signed pending cookie must hold this exact state (compared in constant time). There is no
 * other way in: a state that is not this browser's is refused before anything is cleared,
 * exchanged or stored, so a link crafted by another customer cannot attach a connection to her.
 */
export function resolveCallback(
  cookies: { pending: PendingFlow | undefined; done: DoneFlow | undefined },
  state: string,
  stateHash: string,
): { replay: DoneFlow } | { pending: PendingFlow } {
  // A reload of a completed callback: same answer, no second exchange.
  if (cookies.done && constantTimeEqual(cookies.done.state_hash, stateHash)) return { replay: cookies.done };
  if (cookies.pending && constantTimeEqual(cookies.pending.state, state)) return { pending: cookies.pending };
  throw new AppError("state_mismatch", cookies.pending ? "state differs from cookie" : "no pending flow cookie");
}

export interface CallbackDeps {
  finch: FinchSettings;
  connect: ConnectSettings;
  writers: Writers;
}

/**
 * Exchanges the code and stores the connection through its single writer: one exchange, one
 * writer call (which checks ownership against the authoritative record, clears a tombstone,
 * and writes one or two KV entries). Nothing is written unless every check passed.
 */
export async function completeConnect(
  deps: CallbackDeps,
  ctx: PendingFlow,
  code: string,
  trace: Trace,
): Promise<ConnectionFacts> {
  const redirectUri = ctx.flow === "redirect" ? deps.connect.redirectUri : undefined;
  const token = await exchangeCode(deps.finch, { code, redirectUri }, trace);
  trace.connectionId = token.connection_id;

  if (ctx.connection_id && token.connection_id !== ctx.connection_id) {
    throw new AppError("connection_mismatch", "reauth returned another connection");
  }
  // Fails closed: the cookie binds the callback to a browser, not the code to a customer (a
  // customer can paste a code stolen from someone else's flow into her own). Finch echoes
  // the customer its session was created for; with no customer_id we cannot tell, so refuse.
  if (!token.customer_id || !constantTimeEqual(token.customer_id, ctx.customer_id)) {
    throw new AppError(
      "customer_mismatch",
      token.customer_id ? "token customer_id differs from the flow's" : "token has no customer_id",
    );
  }
  const app = {
    accessToken: token.access_token,
    customerId: ctx.customer_id,
    customerName: ctx.customer_name,
    customerEmail: ctx.email ?? null,
  };
  // The writer refuses an id stored under another customer (customer_mismatch, logged as a
  // security event like the checks above: see lib/trace.ts).
  const writer = deps.writers(token.connection_id);
  const input = connectInput(app, token);
  // This isolate holds the only copy of a token Finch has just issued (the old one is revoked):
  // a writer that could not be reached, or was reset mid-call, is asked again. Storing the same
  // token twice is a no-op, so a repeat after a commit whose answer was lost changes nothing.
  for (let attempt = 1; ; attempt++) {
    try {
      return await writer.connect(input, trace);
    } catch (e) {
      if (attempt >= WRITER_ATTEMPTS || !(e instanceof AppError && e.code === "storage_unavailable")) throw e;
      trace.notes.push(`writer call ${attempt} failed: asked again`);
    }
  }
}

/** Writer calls a callback makes at most for one token. */
const WRITER_ATTEMPTS = 3;
