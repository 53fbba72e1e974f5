import { AppError } from "../errors";
import { disconnectEntities as finchDisconnectEntities, introspect as finchIntrospect } from "../finch/api";
import { startDataSync } from "../finch/jobs";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import { publicFacts, type StoredConnection } from "../storage/records";
import { disconnectEvents, type SyncJob, type SyncJobClaim } from "./change-events";
import type { EntitiesDisconnected, SyncStarted } from "./commands";
import { applyIntrospection, markedEntitiesDisconnected, namesEveryLiveEntity } from "./finch-facts";
import { isReauth } from "./introspecting";
import { finchConfirmsSync } from "./job-check";
import { ReadingWriter } from "./reading";
import { generation, type WriterState } from "./state";

/** A token Finch refused outright (not "reauthenticate"): Finch no longer knows it. */
const isRefused = (e: unknown) => e instanceof AppError && e.code === "finch_rejected";

/**
 * The writer's operations that act at Finch on the connection's account with its token, which
 * never leaves the writer: disconnect some of its entities, start a data sync, and ask Finch
 * about a job a webhook names. WriterOperations (operations.ts) inherits them.
 */
export class AccountWriter extends ReadingWriter {
  /**
   * The live record, or why not: a tombstone is `connection_disconnected` (the app asked for
   * something only a live connection can do), a connection never held here is not found.
   */
  protected liveOrRefused(state: WriterState | undefined): StoredConnection {
    if (state?.kind === "live") return state.record;
    const id = this.deps.connectionId;
    if (state?.kind === "gone") throw new AppError("connection_disconnected", `connection ${id} was disconnected`);
    throw new AppError("connection_not_found", `connection ${id}`);
  }

  /**
   * POST /disconnect-entity, then Finch is asked the connection's state (introspect) and its
   * answer stored, all under the lock (nothing may change between Finch's action and its
   * record). The change is told as `connection.updated` (or `status_changed`) with reason
   * `entity_disconnect`. When Finch no longer accepts the token after its last entities went
   * (Finch, like the mock, then ends the whole connection), the connection is gone: the
   * tombstone is committed as a disconnect would, with `connection.disconnected`. When Finch
   * cannot be asked after acting (or refuses the token while entities remain), the known
   * result (those entities disconnected) is stored.
   */
  disconnectEntities(entityIds: readonly string[], trace: Trace): Promise<EntitiesDisconnected> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      const record = this.liveOrRefused(state);
      const id = this.deps.connectionId;
      const token = await this.deps.store.token(record);
      const finch = this.deps.finch();
      const answer = await finchDisconnectEntities(finch, token, entityIds, trace);
      if (answer === "already_invalid") trace.notes.push("finch says the token is already invalid");
      let facts: Introspection | undefined;
      try {
        facts = await finchIntrospect(finch, token, trace);
      } catch (e) {
        // Refused after its last entities went: Finch ended the connection. Refused otherwise
        // (a re-authentication may have replaced the token meanwhile): not a reason to end it.
        if (isRefused(e) && namesEveryLiveEntity(record, entityIds)) {
          trace.notes.push("finch no longer accepts the token: the connection ended with its entities");
          const gen = generation(state) + 1;
          const at = this.deps.now().toISOString();
          const writes = await this.deps.store.removeWrites(record);
          const tombstone = { kind: "gone", gen, at, customer_id: record.customer_id } as const;
          await this.keep(tombstone, { events: disconnectEvents(record, gen, at), writes, trace });
          return { connection_id: id, entity_ids: [...entityIds], connection_disconnected: true, connection: null };
        }
        // A token Finch refused before acting, and cannot be asked about now: nothing is known.
        if (answer === "already_invalid") throw e;
        if (isRefused(e)) trace.notes.push("finch refused the token after disconnect-entity, entities remain: kept");
        // Finch acted but could not be asked after: what it did is known, and stored.
        trace.notes.push("introspect after disconnect-entity failed: the known result is stored");
      }
      if (facts?.connection_id && facts.connection_id !== id) {
        throw new AppError("finch_bad_response", "introspect names another connection");
      }
      const now = this.deps.now();
      const next = facts ? applyIntrospection(record, facts, now) : markedEntitiesDisconnected(record, entityIds, now);
      let stored = record;
      if (next) {
        const cause = { op: "status", reason: "entity_disconnect" } as const;
        const change = { cause, checked: facts !== undefined, trace };
        stored = await this.commit({ ...next, gen: (record.gen ?? 0) + 1 }, change);
      } else if (facts) this.markChecked(record);
      return {
        connection_id: id,
        entity_ids: [...entityIds],
        connection_disconnected: false,
        connection: publicFacts(stored),
      };
    });
  }

  /**
   * POST /jobs/automated { type: "data_sync_all" } with the connection's token. Nothing is
   * stored: the job's completion comes back as Finch's webhook, confirmed with Finch before it
   * is recorded. Outside the lock: a token replaced meanwhile is refused by Finch, and the
   * caller asks again.
   */
  async startSync(trace: Trace): Promise<SyncStarted> {
    const record = this.liveOrRefused(await this.load(trace));
    const sync = await startDataSync(this.deps.finch(), await this.deps.store.token(record), trace);
    return {
      job_id: sync.jobId,
      allowed_refreshes: sync.allowedRefreshes,
      remaining_refreshes: sync.remainingRefreshes,
      retry_at: sync.retryAt,
    };
  }

  /**
   * Finch's word on the job a webhook names (job-check.ts), asked outside the lock with the
   * token as stored now. A token Finch refuses answers nothing about the job: if the writer
   * has a newer token meanwhile, Finch is asked again with it (three times at most); if not,
   * the job is not confirmed. undefined also when the connection is not live here.
   */
  protected async confirmedJob(claim: SyncJobClaim, trace: Trace): Promise<SyncJob | undefined> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const state = await this.load(trace);
      if (state?.kind !== "live") return undefined;
      const tokenGen = state.record.token_gen ?? 0;
      const token = await this.deps.store.token(state.record);
      try {
        return await finchConfirmsSync(this.deps.finch(), token, this.deps.connectionId, claim, trace);
      } catch (e) {
        if (!isRefused(e) && !isReauth(e)) throw e;
        const now = this.committed;
        if (now?.kind === "live" && (now.record.token_gen ?? 0) !== tokenGen) continue;
        trace.notes.push("finch refused the token: the job is not confirmed");
        return undefined;
      }
    }
    throw new AppError("storage_unavailable", "the token kept changing while finch was asked about the job");
  }
}
