import { AppError } from "../errors";
import { disconnect as finchDisconnect, introspect as finchIntrospect } from "../finch/api";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import { type ConnectionFacts, publicFacts, type StoredConnection } from "../storage/records";
import { fanOut } from "../webhooks/fan-out";
import { WriterBase } from "./base";
import { Coalescer } from "./coalesce";
import { checkToken, connectedRecord, resealed } from "./connect";
import { disconnectEvents, type StatusReason, type SyncJob } from "./emit";
import { applyIntrospection, markedReauth, recordedSync } from "./introspection";
import type {
  ConnectInput,
  CurrentToken,
  Disconnected,
  Imported,
  ImportInput,
  Introspected,
  PromptOutcome,
  ReconcileOutcome,
  ResealOutcome,
} from "./protocol";
import { generation, type WriterState } from "./state";

/** Who asked for an introspect, and so why a status it finds changed. */
interface Asked {
  trace: Trace;
  reason: StatusReason;
}

/** Finch's "reauthenticate" is an answer about the token (refresh records it), not a failure. */
const isReauth = (e: unknown) => e instanceof AppError && e.code === "finch_reauthenticate";

/** States of a connection this Worker has had (a webhook's event id is only kept for those). */
const held = (state: WriterState | undefined) => state?.kind === "live" || state?.kind === "gone";

/**
 * The logic of one connection's single writer, free of the Durable Object so it can be driven
 * directly (test/consistency.test.ts). Every change is a named operation run one at a time
 * (`exclusive`), gets the next generation, goes to KV first and to the writer's own storage
 * second, with its lifecycle event (base.ts `commit`). Introspects call Finch outside the
 * lock (an answer obtained with a token that has since been replaced is not stored: it
 * describes the old token); a connect's token check and a disconnect hold it, as nothing may
 * change between their Finch call and their write.
 */
export class WriterCore extends WriterBase {
  readonly #introspects = new Coalescer<Asked, Introspected>((asked) => this.introspectOnce(asked));

  connect(input: ConnectInput, trace: Trace): Promise<ConnectionFacts> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      const existing = state?.kind === "live" ? state.record : undefined;
      if (existing && existing.customer_id !== input.customerId) {
        throw new AppError("customer_mismatch", "stored connection belongs to another customer");
      }
      // Two re-authentications can finish in either order, and Finch keeps only the newest
      // token alive: one Finch no longer accepts must not replace the stored one, nor undo a
      // disconnect. Finch's answer also says the status now (a re-authentication or a revival
      // may have been followed by a change whose webhook was handled before this call).
      const fresh = state && !(await this.holds(existing, input.accessToken));
      const check = fresh
        ? await checkToken(this.deps.finch(), this.deps.connectionId, input.accessToken, trace)
        : "skip";
      if (check === "refused") {
        trace.notes.push("finch no longer accepts this token: not stored");
        if (existing) return publicFacts(existing);
        throw new AppError("finch_rejected", "token revoked before it could be stored");
      }
      if (state?.kind === "gone") trace.notes.push("a fresh connect replaces the tombstone");
      const id = this.deps.connectionId;
      const at = this.deps.now().toISOString();
      const token = await this.deps.store.seal(id, input.accessToken);
      const record = connectedRecord(input, existing, { id, gen: generation(state) + 1, at, token });
      const checked = typeof check === "object" ? applyIntrospection(record, check, this.deps.now()) : undefined;
      return publicFacts(await this.commit(checked ?? record, !existing, { op: "connect" }, checked !== undefined));
    });
  }

  /**
   * An imported token (checked with Finch at the edge). Idempotent, and it never replaces a
   * token: a connection already held for this customer stays as it is (the token Finch issued
   * last is the one stored), another customer's is refused, and a tombstone stays one (only a
   * fresh Connect flow brings a disconnected connection back).
   */
  importConnection(input: ImportInput, trace: Trace): Promise<Imported> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      if (state?.kind === "live") {
        if (state.record.customer_id !== input.connect.customerId) {
          throw new AppError("customer_mismatch", "imported connection is stored under another customer");
        }
        return { connection: publicFacts(state.record), created: false };
      }
      if (state?.kind === "gone") throw new AppError("connection_disconnected", "import of a disconnected connection");
      const id = this.deps.connectionId;
      const at = this.deps.now().toISOString();
      const token = await this.deps.store.seal(id, input.connect.accessToken);
      const record = connectedRecord(input.connect, undefined, { id, gen: generation(state) + 1, at, token });
      const checked = applyIntrospection(record, input.facts, this.deps.now()) ?? record;
      return { connection: publicFacts(await this.commit(checked, true, { op: "import" }, true)), created: true };
    });
  }

  private async holds(record: StoredConnection | undefined, token: string): Promise<boolean> {
    if (!record) return false;
    return (await this.deps.store.token(record).catch(() => undefined)) === token;
  }

  async current(trace: Trace): Promise<CurrentToken> {
    return this.tokenOf(await this.live(trace));
  }

  private async tokenOf(record: StoredConnection): Promise<CurrentToken> {
    return { token: await this.deps.store.token(record), tokenGen: record.token_gen ?? 0, gen: record.gen ?? 0 };
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
      await this.refresh(trace, "proxy_401").catch(() =>
        trace.notes.push("introspect after reauthenticate_user failed"),
      );
    }
    return undefined;
  }

  /** Finch asked for re-authentication with the current token (caller holds the lock). */
  private async markReauth(record: StoredConnection, reason: StatusReason): Promise<StoredConnection> {
    const next = markedReauth(record, this.deps.now());
    return next ? this.commit({ ...next, gen: (record.gen ?? 0) + 1 }, false, { op: "status", reason }, true) : record;
  }

  /**
   * Introspects with Finch; prompts that arrive while one is in flight share the next one
   * (whose status change, if any, is told with the reason of the call that started it).
   */
  refresh(trace: Trace, reason: StatusReason = "introspect"): Promise<Introspected> {
    return this.#introspects.run({ trace, reason }, () => trace.notes.push("introspect coalesced"));
  }

  /**
   * One introspect. An answer obtained with a token that was replaced while Finch answered
   * describes the old token: it is dropped and Finch is asked again with the new one.
   */
  private async introspectOnce({ trace, reason }: Asked): Promise<Introspected> {
    for (let attempt = 1; ; attempt++) {
      const used = await this.live(trace);
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
          if (isReauth(failure)) await this.markReauth(record, reason);
          throw failure;
        }
        if (facts.connection_id && facts.connection_id !== this.deps.connectionId) {
          throw new AppError("finch_bad_response", "introspect names another connection");
        }
        const next = applyIntrospection(record, facts, this.deps.now());
        if (next)
          record = await this.commit({ ...next, gen: (record.gen ?? 0) + 1 }, false, { op: "status", reason }, true);
        else await this.markChecked(record);
        return { ...publicFacts(record), status_message: facts.connection_status?.message ?? null };
      });
      if (answer) return answer;
      trace.notes.push("introspect answer superseded by a newer token");
      if (attempt >= 3) return { ...publicFacts(await this.live(trace)), status_message: null };
    }
  }

  /**
   * The periodic re-check (src/domain/reconcile.ts): introspects, with reason "reconcile",
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

  /** An introspect whose "reauthenticate" answer (recorded by refresh) is not a failure. */
  private async refreshAnswered(trace: Trace, reason: StatusReason): Promise<void> {
    try {
      await this.refresh(trace, reason);
    } catch (e) {
      if (!isReauth(e)) throw e;
    }
  }

  /**
   * A webhook's delivery: deduped on its event id; `message` is fanned out after `work`, and
   * the id remembered only once that succeeded, and only for a connection this Worker has had.
   */
  private async delivery(
    eventId: string,
    message: unknown,
    work: () => Promise<{ outcome: PromptOutcome; held: boolean }>,
  ): Promise<PromptOutcome> {
    const nowMs = this.deps.now().getTime();
    if (await this.deps.storage.seen(eventId, nowMs)) return "duplicate";
    const done = await work();
    await fanOut(this.deps.events(), message);
    if (done.held) await this.deps.storage.remember(eventId, nowMs);
    return done.outcome;
  }

  /**
   * A Finch job webhook saying a sync finished: recorded in the record (data readiness) with
   * its `connection.data_synced` event, delivered as a prompt is (`delivery`).
   */
  jobCompleted(eventId: string, job: SyncJob, message: unknown, trace: Trace): Promise<PromptOutcome> {
    return this.delivery(eventId, message, () =>
      this.exclusive(async () => {
        const state = await this.load(trace);
        // Disconnected (a tombstone) or never held here: nothing to record, as for a prompt.
        if (state?.kind !== "live") return { outcome: "unknown_connection", held: held(state) };
        const next = recordedSync(state.record, job, this.deps.now());
        await this.commit({ ...next, gen: (state.record.gen ?? 0) + 1 }, false, { op: "job", job });
        return { outcome: "applied", held: true };
      }),
    );
  }

  /** A webhook's prompt. Errors reaching Finch propagate: the route answers 5xx and Finch redelivers. */
  prompt(eventId: string, message: unknown, trace: Trace): Promise<PromptOutcome> {
    return this.delivery(eventId, message, async () => {
      const state = await this.load(trace);
      if (state === undefined) {
        // Under the lock: a first connect committing meanwhile must not be overwritten.
        await this.exclusive(async () => {
          if ((await this.load(trace)) !== undefined) return;
          await this.keep({ kind: "prompted", at: this.deps.now().toISOString() });
        });
      }
      if (state?.kind !== "live") return { outcome: "unknown_connection", held: held(state) };
      const before = generation(state);
      try {
        await this.refreshAnswered(trace, "webhook");
      } catch (e) {
        if (e instanceof AppError && e.code === "connection_not_found") {
          // Disconnected while Finch was asked. A connect already on its way may bring it
          // back, and then this event matters: Finch is asked to deliver it again.
          throw new AppError("storage_unavailable", "disconnected during the introspect");
        }
        throw e;
      }
      return { outcome: generation(this.committed) > before ? "applied" : "unchanged", held: true };
    });
  }

  disconnect(trace: Trace): Promise<Disconnected> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      const id = this.deps.connectionId;
      if (state?.kind === "gone" && state.cleanup) {
        await this.removeFromKv(state.cleanup, state.gen, state.at);
        return { connection_id: id, disconnected: true, finch: "disconnected" };
      }
      if (state?.kind !== "live") throw new AppError("connection_not_found", `connection ${id}`);
      const record = state.record;
      const finch = await finchDisconnect(this.deps.finch(), await this.deps.store.token(record), trace);
      if (finch === "already_invalid") trace.notes.push("finch says the token is already invalid");
      // The tombstone first: from here on nothing but a fresh connect can bring it back.
      const gen = generation(state) + 1;
      const at = this.deps.now().toISOString();
      const events = disconnectEvents(record, gen, at);
      await this.keep({ kind: "gone", gen, at, cleanup: record }, events);
      await this.removeFromKv(record, gen, at);
      return { connection_id: id, disconnected: true, finch };
    });
  }

  private async removeFromKv(record: StoredConnection, gen: number, at: string): Promise<void> {
    await this.deps.store.remove(record);
    await this.keep({ kind: "gone", gen, at });
  }

  reseal(trace: Trace): Promise<ResealOutcome> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      if (state?.kind !== "live") return "gone";
      const record = state.record;
      const sealed = await resealed(this.deps.store, record, trace);
      if (typeof sealed === "string") return sealed;
      await this.commit({ ...record, token: sealed, gen: (record.gen ?? 0) + 1 }, false, { op: "reseal" });
      return "rewritten";
    });
  }
}
