import { AppError } from "../errors";
import { introspect as finchIntrospect } from "../finch/api";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import { publicFacts, type StoredConnection } from "../storage/records";
import type { StatusReason } from "./change-events";
import { Coalescer } from "./coalesce";
import type { CurrentToken, Introspected, ReconcileOutcome } from "./commands";
import { NO_WEBHOOK, type WebhookHandled, WriterCommits } from "./commit";
import { applyIntrospection, markedReauth } from "./finch-facts";

/** Who asked for an introspect, why a status it finds changed, and the webhooks it answers. */
interface Asked {
  trace: Trace;
  reason: StatusReason;
  delivered: WebhookHandled;
}

/** Calls that join a queued introspect share it: their webhooks are all claimed by its commit. */
const mergeAsked = (queued: Asked, joining: Asked): Asked => ({
  ...queued,
  delivered: {
    claims: [...queued.delivered.claims, ...joining.delivered.claims],
    forward: [...queued.delivered.forward, ...joining.delivered.forward],
  },
});

/** Finch's "reauthenticate" is an answer about the token (refresh records it), not a failure. */
export const isReauth = (e: unknown) => e instanceof AppError && e.code === "finch_reauthenticate";

/** A connection stored as reauth is asked of Finch again after a proxied 401 at most this often. */
export const REAUTH_RECHECK_MS = 60_000;

/**
 * The writer's operations that ask Finch about the connection (GET /introspect) and store its
 * answer: on request, on a webhook's prompt, after a proxied 401, and for the reconciliation.
 * Introspects call Finch outside the lock: an answer obtained with a token that has since been
 * replaced is not stored (it describes the old token), and Finch is asked again.
 */
export class IntrospectingWriter extends WriterCommits {
  readonly #introspects = new Coalescer<Asked, Introspected>((asked) => this.introspectOnce(asked), mergeAsked);

  protected async tokenOf(record: StoredConnection): Promise<CurrentToken> {
    return {
      token: await this.deps.store.token(record),
      tokenGen: record.token_gen ?? 0,
      gen: record.gen ?? 0,
      customerId: record.customer_id,
    };
  }

  /**
   * A caller's token (of generation `tokenGen`) was refused by Finch. A newer token, if there
   * is one. Otherwise, when Finch said reauthenticate_user, the status is asked of Finch
   * (introspect, coalesced) rather than set here: Finch's answer is ordered with every other
   * introspect, while a proxied call's 401 may be older than the last one of them.
   */
  async staleToken(tokenGen: number, reauth: boolean, trace: Trace): Promise<CurrentToken | undefined> {
    const state = await this.load(trace);
    if (state?.kind !== "live") return undefined;
    const record = state.record;
    if ((record.token_gen ?? 0) > tokenGen) {
      trace.notes.push(`writer holds a newer token (generation ${record.token_gen})`);
      return this.tokenOf(record);
    }
    if (reauth) {
      trace.notes.push("finch says reauthenticate_user");
      await this.introspect("proxy_401", trace).catch(() =>
        trace.notes.push("introspect after reauthenticate_user failed"),
      );
    }
    return undefined;
  }

  /**
   * Introspects with Finch; calls that arrive while one is in flight share the next one
   * (whose status change, if any, is told with the reason of the call that started it).
   */
  introspect(reason: StatusReason, trace: Trace): Promise<Introspected> {
    return this.ask(trace, reason, NO_WEBHOOK);
  }

  /** The introspect itself, answering the webhooks in `delivered` too. */
  protected ask(trace: Trace, reason: StatusReason, delivered: WebhookHandled): Promise<Introspected> {
    return this.#introspects.run({ trace, reason, delivered }, () => trace.notes.push("introspect coalesced"));
  }

  /** An introspect whose "reauthenticate" answer (recorded by refresh) is not a failure. */
  protected async refreshAnswered(trace: Trace, reason: StatusReason, delivered = NO_WEBHOOK): Promise<void> {
    try {
      await this.ask(trace, reason, delivered);
    } catch (e) {
      if (!isReauth(e)) throw e;
    }
  }

  /**
   * The periodic re-check (src/maintenance/reconcile.ts): introspects, with reason "reconcile",
   * unless Finch answered for this record (or its status was set) within `maxAgeMs`.
   */
  async reconcile(maxAgeMs: number, trace: Trace): Promise<ReconcileOutcome> {
    const state = await this.load(trace);
    if (state?.kind !== "live") return "gone";
    const last = Math.max(Date.parse(state.checked_at ?? "") || 0, Date.parse(state.record.status_at) || 0);
    if (this.deps.now().getTime() - last < maxAgeMs) return "fresh";
    await this.refreshAnswered(trace, "reconcile");
    return "checked";
  }

  /**
   * One introspect. Whatever it stores (a change, or only that Finch answered) claims the
   * webhooks it answers, in the same commit; a failure claims nothing, so Finch redelivers.
   */
  private async introspectOnce({ trace, reason, delivered }: Asked): Promise<Introspected> {
    for (let attempt = 1; ; attempt++) {
      const used = await this.live(trace);
      if (reason === "proxy_401" && delivered.claims.length === 0 && this.reauthRecent(used)) {
        // Every proxied call of a connection waiting for its employer gets Finch's 401: one
        // introspect a minute says all there is to say (calls meanwhile share it, coalesced).
        trace.notes.push("reauth already recorded: not asked again");
        return { ...publicFacts(used), status_message: null };
      }
      const tokenGen = used.token_gen ?? 0;
      let facts: Introspection | undefined;
      let failure: unknown;
      try {
        facts = await finchIntrospect(this.deps.finch(), await this.deps.store.token(used), trace);
      } catch (e) {
        failure = e;
      }
      const answer = await this.exclusive(async () => {
        let record = await this.live(trace);
        if ((record.token_gen ?? 0) !== tokenGen) return undefined;
        if (failure !== undefined || !facts) {
          // Finch's "reauthenticate" is an answer about the current token: record it.
          if (isReauth(failure)) await this.markReauth(record, reason, delivered, trace);
          throw failure;
        }
        if (facts.connection_id && facts.connection_id !== this.deps.connectionId) {
          throw new AppError("finch_bad_response", "introspect names another connection");
        }
        const next = applyIntrospection(record, facts, this.deps.now());
        if (next) {
          const cause = { op: "status", reason } as const;
          record = await this.commit(
            { ...next, gen: (record.gen ?? 0) + 1 },
            { cause, checked: true, delivered, trace },
          );
        } else this.markChecked(record, delivered);
        return { ...publicFacts(record), status_message: facts.connection_status?.message ?? null };
      });
      if (answer) return answer;
      trace.notes.push("introspect answer superseded by a newer token");
      if (attempt >= 3) {
        this.claimOnly(delivered);
        return { ...publicFacts(await this.live(trace)), status_message: null };
      }
    }
  }

  /** Finch asked for re-authentication with the current token (caller holds the lock). */
  private async markReauth(record: StoredConnection, reason: StatusReason, delivered: WebhookHandled, trace: Trace) {
    const next = markedReauth(record, this.deps.now());
    if (next) {
      const cause = { op: "status", reason } as const;
      await this.commit({ ...next, gen: (record.gen ?? 0) + 1 }, { cause, checked: true, delivered, trace });
    } else this.markChecked(record, delivered);
  }

  /** Stored as reauth, and Finch was asked within REAUTH_RECHECK_MS. */
  private reauthRecent(record: StoredConnection): boolean {
    const state = this.committed;
    const checked = state?.kind === "live" ? state.checked_at : undefined;
    const at = Math.max(Date.parse(checked ?? "") || 0, Date.parse(record.status_at) || 0);
    return record.status === "reauth" && this.deps.now().getTime() - at < REAUTH_RECHECK_MS;
  }
}
