import { DurableObject } from "cloudflare:workers";
import { migrate } from "../lib/sql-schema";
import { type BudgetDecision, type BudgetRequest, type Grant, SlidingWindow, type WindowStore } from "./window";

/**
 * One Finch product's budget for the whole app (one object per application and product).
 *
 * The window is kept in the object's SQLite storage, written with every grant: an object is
 * reset on deploys, on moves, after errors, and evicted when idle, and a fresh one that had
 * forgotten the last minute granted it all again (40 calls in one window at a limit of 20).
 * The other way, refusing every grant for one window after a restart, would also hit an app
 * whose object was merely evicted while idle: its first call after a quiet spell would wait a
 * minute. Every answer waits for its write (the output gate), so a grant the isolate hears of
 * is never lost by a reset. The storage stays bounded: one row per grant still counting (at
 * most the limit; expired rows are deleted on the next request) and one row for a pause.
 * Who was refused recently (fairness) stays in memory: forgetting it only relaxes fairness
 * for one window.
 */
export class RateBudget extends DurableObject {
  readonly #window: SlidingWindow;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    migrate(ctx.storage, BUDGET_SCHEMA);
    this.#window = new SlidingWindow(sqlWindowStore(ctx.storage.sql));
  }

  acquire(req: BudgetRequest): BudgetDecision {
    return this.#window.acquire(Date.now(), req);
  }

  /** A slot of `grant` was never sent (slot.ts). */
  release(connectionId: string, grant: number): void {
    this.#window.release(connectionId, grant);
  }

  pause(ms: number): void {
    this.#window.pause(Date.now(), ms);
  }
}

/** Schema steps (lib/sql-schema.ts): append only. Step 1 is the tables as first released. */
export const BUDGET_SCHEMA = [
  [
    "CREATE TABLE IF NOT EXISTS budget_grants (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, connection_id TEXT NOT NULL, n INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS budget_pause (k INTEGER PRIMARY KEY CHECK (k = 0), until INTEGER NOT NULL)",
  ],
] as const;

function sqlWindowStore(sql: SqlStorage): WindowStore {
  return {
    load() {
      const grants = sql
        .exec<{ id: number; at: number; connection_id: string; n: number }>(
          "SELECT id, at, connection_id, n FROM budget_grants",
        )
        .toArray()
        .map((r): Grant => ({ id: r.id, at: r.at, connectionId: r.connection_id, n: r.n }));
      const pause = sql.exec<{ until: number }>("SELECT until FROM budget_pause").toArray()[0];
      return { grants, pausedUntil: pause?.until ?? 0 };
    },
    add(g) {
      // AUTOINCREMENT: ids are never reused, even after every row expired.
      return sql
        .exec<{ id: number }>(
          "INSERT INTO budget_grants (at, connection_id, n) VALUES (?, ?, ?) RETURNING id",
          g.at,
          g.connectionId,
          g.n,
        )
        .one().id;
    },
    resize(id, n) {
      if (n > 0) sql.exec("UPDATE budget_grants SET n = ? WHERE id = ?", n, id);
      else sql.exec("DELETE FROM budget_grants WHERE id = ?", id);
    },
    expire(upTo) {
      sql.exec("DELETE FROM budget_grants WHERE at <= ?", upTo);
    },
    pause(until) {
      sql.exec("INSERT OR REPLACE INTO budget_pause (k, until) VALUES (0, ?)", until);
    },
  };
}
