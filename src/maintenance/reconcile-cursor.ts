import { DurableObject } from "cloudflare:workers";
import { migrate } from "../lib/sql-schema";
import { type CursorState, type LeaseGrant, type ReconcilePosition, readState, transitions } from "./reconcile-lease";

/**
 * The reconciliation's position and its one-run-at-a-time lease (reconcile-lease.ts
 * says why, and holds the transitions). One object for the app. Each method reads the state,
 * applies one transition and writes it back in one synchronous transaction: nothing is awaited
 * in between, so two runs' requests are strictly one after the other.
 */
/** Schema steps (lib/sql-schema.ts): append only. Step 1 is the table as first released. */
export const CURSOR_SCHEMA = [
  ["CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)"],
] as const;

export class ReconcileCursor extends DurableObject {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    migrate(ctx.storage, CURSOR_SCHEMA);
  }

  acquire(holder: string, now: number, leaseMs: number): LeaseGrant {
    return this.apply((s) => transitions.acquire(s, holder, now, leaseMs));
  }

  advance(holder: string, position: ReconcilePosition): boolean {
    return this.apply((s) => transitions.advance(s, holder, position));
  }

  release(holder: string, position?: ReconcilePosition): boolean {
    return this.apply((s) => transitions.release(s, holder, position));
  }

  /** The saved state, for tests and operators' inspection (never secret). */
  state(): CursorState {
    return this.load();
  }

  private apply<T>(step: (state: CursorState) => [CursorState, T]): T {
    return this.ctx.storage.transactionSync(() => {
      const before = this.load();
      const [after, result] = step(before);
      if (after !== before) {
        this.ctx.storage.sql.exec(
          "INSERT INTO cursor (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
          JSON.stringify(after),
        );
      }
      return result;
    });
  }

  private load(): CursorState {
    const row = this.ctx.storage.sql.exec<{ state: string }>("SELECT state FROM cursor WHERE id = 1").toArray()[0];
    if (!row) return { position: {} };
    try {
      return readState(JSON.parse(row.state));
    } catch {
      return { position: {} };
    }
  }
}
