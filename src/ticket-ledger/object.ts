import { DurableObject } from "cloudflare:workers";
import { constantTimeEqual } from "../crypto/compare";
import type { LedgerSession, LedgerStart, LedgerStartInput } from "./types";

/**
 * One-time Connect links. A ticket (by its `jti`) may start one Finch Connect session, ever.
 * KV cannot hold that promise: a replay at another location would read its own cached copy
 * and never see the first use. A Durable Object per ticket id is strongly consistent and
 * serializes the two requests of a race, so exactly one of them wins.
 *
 * The object keeps a single entry and deletes it with an alarm once the ticket has expired
 * (plus the verifier's clock skew), when the ticket itself can no longer be presented.
 */
interface Entry {
  phase: "claimed" | "started";
  flow: string;
  exp: number;
  session?: LedgerSession;
}

const KEY = "ticket";

export class TicketLedger extends DurableObject {
  /**
   * Claims the ticket for a new session, or lets the browser that started it resume it.
   * Runs without awaiting anything but this object's storage, so the input gate keeps two
   * concurrent calls from both seeing an empty ledger.
   */
  async start(input: LedgerStartInput): Promise<LedgerStart> {
    const entry = await this.ctx.storage.get<Entry>(KEY);
    if (!entry) {
      await this.ctx.storage.put(KEY, { phase: "claimed", flow: input.flow, exp: input.exp } satisfies Entry);
      // Kept until the ticket can no longer be presented, by the object's own clock too: if the
      // Worker that verified it runs ahead or behind, the entry must not vanish between this
      // claim and the session's record (which would spend the ticket with no session to resume).
      const forgetAtS = Math.max(input.exp, Math.floor(Date.now() / 1000)) + input.graceS;
      await this.ctx.storage.setAlarm(forgetAtS * 1000);
      return { kind: "fresh" };
    }
    const session = entry.session;
    if (
      entry.phase === "started" &&
      session &&
      entry.flow === input.flow &&
      input.resumeStateHash !== undefined &&
      constantTimeEqual(session.stateHash, input.resumeStateHash)
    ) {
      return { kind: "resume", sessionId: session.sessionId, connectUrl: session.connectUrl };
    }
    return { kind: "used" };
  }

  /** Remembers the session a fresh claim created, so the same browser can resume it. */
  async record(session: LedgerSession): Promise<void> {
    const entry = await this.ctx.storage.get<Entry>(KEY);
    if (!entry || entry.phase !== "claimed") throw new Error("ledger: record without a claim");
    await this.ctx.storage.put(KEY, { ...entry, phase: "started", session } satisfies Entry);
  }

  /**
   * Gives a claim back when no Finch session came of it (Finch refused or was down), so the
   * customer can retry the same link. A started ticket is never released.
   */
  async release(): Promise<void> {
    const entry = await this.ctx.storage.get<Entry>(KEY);
    if (entry?.phase === "claimed") {
      await this.ctx.storage.deleteAll();
      await this.ctx.storage.deleteAlarm();
    }
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
