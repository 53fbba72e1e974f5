import { AppError } from "../errors";
import { disconnect as finchDisconnect } from "../finch/api";
import type { Trace } from "../lib/trace";
import { type ConnectionFacts, publicFacts, type StoredConnection } from "../storage/records";
import { AccountWriter } from "./account";
import { disconnectEvents, type SyncJobClaim } from "./change-events";
import type {
  ConnectInput,
  Disconnected,
  Imported,
  ImportInput,
  ReencryptOutcome,
  WebhookOutcome,
  WriterApi,
} from "./commands";
import type { WebhookHandled } from "./commit";
import { checkToken, connectedRecord, reencrypted } from "./connected-record";
import { fanOut } from "./fan-out";
import { applyIntrospection, recordedSync } from "./finch-facts";
import { type Claim, generation, type WriterState } from "./state";

/**
 * The logic of one connection's single writer, free of the Durable Object so it can be driven
 * directly (host.ts runs it for the object, the simulation and the benchmark). Every change is
 * a named operation run one at a time (`exclusive`), gets the next generation, and is committed
 * to the writer's own storage with its lifecycle event and the KV writes it owes (commit.ts
 * `commit`), which are sent after. A connect's token check and a disconnect hold the lock
 * across their Finch call, as nothing may change between it and their commit; introspects
 * (asking.ts) do not.
 */
export class WriterOperations extends AccountWriter implements WriterApi {
  /** Copies of one Finch webhook being handled here now, by event id. */
  readonly #deliveries = new Map<string, Promise<WebhookOutcome>>();

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
      // The same token again: a callback retrying a call whose commit happened (the answer was
      // lost to a reset). Nothing to change, and nothing to tell.
      if (existing && (await this.holds(existing, input.accessToken))) {
        trace.notes.push("this token is already stored");
        return publicFacts(existing);
      }
      const check = state
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
      const change = { cause: { op: "connect" }, isNew: !existing, checked: checked !== undefined, trace } as const;
      return publicFacts(await this.commit(checked ?? record, change));
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
      const change = { cause: { op: input.source ?? "import" }, isNew: true, checked: true, trace } as const;
      return { connection: publicFacts(await this.commit(checked, change)), created: true };
    });
  }

  private async holds(record: StoredConnection | undefined, token: string): Promise<boolean> {
    if (!record) return false;
    return (await this.deps.store.token(record).catch(() => undefined)) === token;
  }

  /**
   * One Finch webhook, once: a copy that arrives while the first is being handled here waits
   * for it, and one whose id this writer has claimed (in the commit of the change it caused)
   * is a duplicate. A failed delivery claims nothing: Finch redelivers it, and it runs again.
   */
  private handleOnce(eventId: string, work: (claim: Claim) => Promise<WebhookOutcome>): Promise<WebhookOutcome> {
    const first = this.#deliveries.get(eventId);
    if (first) {
      return first.then(
        () => "duplicate",
        () => this.handleOnce(eventId, work),
      );
    }
    const atMs = this.deps.now().getTime();
    if (this.deps.storage.seen(eventId, atMs)) return Promise.resolve("duplicate");
    const run = work({ eventId, atMs }).finally(() => this.#deliveries.delete(eventId));
    this.#deliveries.set(eventId, run);
    return run;
  }

  /**
   * A webhook for a connection that is not live here: a tombstone claims it (with its message
   * to forward); one never held keeps nothing, its message is forwarded at once.
   */
  private async notLive(state: WriterState | undefined, delivered: WebhookHandled): Promise<WebhookOutcome> {
    if (state?.kind === "gone") this.claimOnly(delivered);
    else for (const message of delivered.forward) await fanOut(this.deps.events(), message);
    return "unknown_connection";
  }

  /**
   * A Finch job webhook saying a sync finished: Finch is asked about the job first (account.ts
   * `confirmedJob`, outside the lock); only a job Finch confirms is recorded (data readiness,
   * with Finch's time) with its `connection.data_synced` event. Confirmed or not, the webhook
   * is claimed in the same commit, so Finch's redeliveries are duplicates.
   */
  jobCompleted(eventId: string, claimed: SyncJobClaim, message: unknown, trace: Trace): Promise<WebhookOutcome> {
    return this.handleOnce(eventId, async (claim) => {
      const delivered: WebhookHandled = { claims: [claim], forward: message === undefined ? [] : [message] };
      const job = await this.confirmedJob(claimed, trace);
      return this.exclusive(async () => {
        const state = await this.load(trace);
        if (state?.kind !== "live") return this.notLive(state, delivered);
        const next = job ? recordedSync(state.record, job, this.deps.now()) : undefined;
        if (!job || !next) {
          this.claimOnly(delivered);
          return job ? "unchanged" : "unverified";
        }
        await this.commit(
          { ...next, gen: (state.record.gen ?? 0) + 1 },
          { cause: { op: "job", job }, delivered, trace },
        );
        return "applied";
      });
    });
  }

  /**
   * A webhook's prompt: Finch is asked (introspect, coalesced) and its answer stored, claiming
   * the webhook in the same commit. Errors reaching Finch propagate: the route answers 5xx and
   * Finch redelivers.
   */
  accountUpdated(eventId: string, message: unknown, trace: Trace): Promise<WebhookOutcome> {
    return this.handleOnce(eventId, async (claim) => {
      const delivered: WebhookHandled = { claims: [claim], forward: message === undefined ? [] : [message] };
      let state = await this.load(trace);
      if (state?.kind !== "live") {
        // Not live: looked at again under the lock. A connect holds it while it asks Finch, and
        // Finch's answer may predate the change this event announces: the connect commits
        // first, and the event is then asked of Finch for the record it stored. Nothing
        // connected here yet: remembered, so a later first connect asks Finch too.
        state = await this.exclusive(async () => {
          const now = await this.load(trace);
          if (now === undefined) await this.keep({ kind: "prompted", at: this.deps.now().toISOString() });
          return now;
        });
      }
      if (state?.kind !== "live") return this.notLive(state, delivered);
      const before = generation(state);
      try {
        await this.refreshAnswered(trace, "webhook", delivered);
      } catch (e) {
        if (e instanceof AppError && e.code === "connection_not_found") {
          // Disconnected while Finch was asked. A connect already on its way may bring it
          // back, and then this event matters: Finch is asked to deliver it again.
          throw new AppError("storage_unavailable", "disconnected during the introspect");
        }
        throw e;
      }
      return generation(this.committed) > before ? "applied" : "unchanged";
    });
  }

  /**
   * Ends the connection at Finch, then commits the tombstone with its event and the KV
   * deletes it owes (the customer index entry and the record), in one commit: from then on
   * nothing but a fresh connect brings it back, and the deletes are finished by the alarm if
   * KV fails now.
   */
  disconnect(customers: readonly string[] | null, trace: Trace): Promise<Disconnected> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      const id = this.deps.connectionId;
      if (state?.kind !== "live") throw new AppError("connection_not_found", `connection ${id}`);
      const record = state.record;
      if (customers !== null && !customers.includes(record.customer_id)) {
        throw new AppError("connection_not_found", "connection of a customer outside the caller's");
      }
      const finch = await finchDisconnect(this.deps.finch(), await this.deps.store.token(record), trace);
      if (finch === "already_invalid") trace.notes.push("finch says the token is already invalid");
      const gen = generation(state) + 1;
      const at = this.deps.now().toISOString();
      const writes = await this.deps.store.removeWrites(record);
      const tombstone = { kind: "gone", gen, at, customer_id: record.customer_id } as const;
      await this.keep(tombstone, { events: disconnectEvents(record, gen, at), writes, trace });
      return { connection_id: id, disconnected: true, finch };
    });
  }

  reencrypt(trace: Trace): Promise<ReencryptOutcome> {
    return this.exclusive(async () => {
      const state = await this.load(trace);
      if (state?.kind !== "live") return "gone";
      const record = state.record;
      const sealed = await reencrypted(this.deps.store, record, trace);
      if (typeof sealed === "string") return sealed;
      await this.commit(
        { ...record, token: sealed, gen: (record.gen ?? 0) + 1 },
        { cause: { op: "reencrypt" }, trace },
      );
      return "rewritten";
    });
  }
}
