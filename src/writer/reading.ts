import { AppError } from "../errors";
import type { Trace } from "../lib/trace";
import { type ConnectionFacts, publicFacts } from "../storage/records";
import { type AuditPage, verifyChain } from "./audit";
import type { CurrentToken } from "./commands";
import { IntrospectingWriter } from "./introspecting";

/**
 * The writer's operations that read its own storage: the current token (internal, for the
 * proxy), the token handed out to the app (recorded in the audit trail), the facts, and the
 * audit trail itself.
 */
export class ReadingWriter extends IntrospectingWriter {
  async current(trace: Trace): Promise<CurrentToken> {
    return this.tokenOf(await this.live(trace));
  }

  /**
   * The token for the one endpoint that hands it out (`POST …/token`, RPC `getAccessToken`):
   * read and recorded as `token_revealed` by the caller's actor, in one step under the lock.
   */
  revealToken(trace: Trace): Promise<CurrentToken> {
    return this.exclusive(async () => {
      const current = await this.tokenOf(await this.live(trace));
      await this.audited("token_revealed", trace);
      return current;
    });
  }

  /**
   * The connection's facts, for a read that found nothing in KV at its location (a connection
   * created elsewhere within the minute, or a cached miss): the writer's word, never a
   * disconnected connection.
   */
  async facts(trace: Trace): Promise<ConnectionFacts> {
    return publicFacts(await this.live(trace));
  }

  /**
   * The audit trail after `afterSeq`, at most `limit` entries, oldest first; it outlives a
   * disconnect. A connection this writer never held has none (connection_not_found).
   */
  async auditTrail(afterSeq: number, limit: number, trace: Trace): Promise<AuditPage> {
    const state = await this.load(trace);
    const { storage } = this.deps;
    const anchor = storage.auditAnchor();
    const kept = storage.auditEntries(anchor.seq);
    if (state === undefined || (state.kind === "prompted" && kept.length === 0)) {
      throw new AppError("connection_not_found", `connection ${this.deps.connectionId}`);
    }
    const page = kept.filter((e) => e.seq > afterSeq).slice(0, limit);
    const last = page.at(-1);
    return {
      customer_id:
        state.kind === "live" ? state.record.customer_id : state.kind === "gone" ? (state.customer_id ?? null) : null,
      entries: page,
      next_after: last && last.seq < (kept.at(-1)?.seq ?? 0) ? last.seq : null,
      chain: await verifyChain(anchor, kept),
      retained_from: anchor.seq + 1,
    };
  }
}
