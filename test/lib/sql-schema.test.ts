import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEAD_LETTERS_SCHEMA, EventDeadLetters } from "../../src/app-events/dead-letters-object";
import { SCHEMA_TABLE } from "../../src/lib/sql-schema";
import { CURSOR_SCHEMA, ReconcileCursor } from "../../src/maintenance/reconcile-cursor";
import { BUDGET_SCHEMA, RateBudget } from "../../src/rate-budget/object";

/**
 * Every SQLite object but the writer (test/writer/sql-storage.test.ts has its own): an object stored
 * by the release before schema versions (its tables and rows, no version row) wakes into the
 * current schema with its rows, once; storage from a newer release is refused.
 */
type Objects = "RATE_BUDGET" | "EVENT_DEAD_LETTERS" | "RECONCILE_CURSOR";
type ObjectClass = new (ctx: DurableObjectState, env: Cloudflare.Env) => object;

const cases: {
  binding: Objects;
  cls: ObjectClass;
  steps: readonly (readonly string[])[];
  table: string;
  oldRow: string;
}[] = [
  {
    binding: "RATE_BUDGET",
    cls: RateBudget,
    steps: BUDGET_SCHEMA,
    table: "budget_grants",
    oldRow: "INSERT INTO budget_grants (at, connection_id, n) VALUES (1, 'conn_old', 1)",
  },
  {
    binding: "EVENT_DEAD_LETTERS",
    cls: EventDeadLetters,
    steps: DEAD_LETTERS_SCHEMA,
    table: "dead",
    oldRow: "INSERT INTO dead (event_id, body, dead_at) VALUES ('evt_old', '{}', '2026-11-01T00:00:00.000Z')",
  },
  {
    binding: "RECONCILE_CURSOR",
    cls: ReconcileCursor,
    steps: CURSOR_SCHEMA,
    table: "cursor",
    oldRow: `INSERT INTO cursor (id, state) VALUES (1, '{"after":"conn_old"}')`,
  },
];

const inObject = <T>(binding: Objects, name: string, work: (state: DurableObjectState) => T | Promise<T>) => {
  const ns = env[binding] as unknown as DurableObjectNamespace;
  return runInDurableObject(ns.get(ns.idFromName(name)), (_instance, state) => work(state));
};

const version = (sql: SqlStorage) => sql.exec<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE}`).one().version;
const tables = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .toArray()
    .map((r) => r.name)
    .filter((n) => !n.startsWith("_cf_"))
    .sort();

describe.each(cases)("$binding schema versions", ({ binding, cls, steps, table, oldRow }) => {
  it("is at the current version after its first wake", async () => {
    await inObject(binding, "schema-fresh", ({ storage }) => {
      expect(version(storage.sql)).toBe(steps.length);
      expect(tables(storage.sql)).toContain(table);
    });
  });

  it("upgrades an object stored before schema versions, keeping its rows", async () => {
    await inObject(binding, "schema-upgrade", (state) => {
      const { sql } = state.storage;
      // As the previous release left it: its tables and a row, no version row.
      sql.exec(`DROP TABLE ${SCHEMA_TABLE}`);
      sql.exec(oldRow);
      const before = sql.exec(`SELECT * FROM ${table}`).toArray();
      expect(before).toHaveLength(1);

      new cls(state, env as unknown as Cloudflare.Env);
      expect(version(sql)).toBe(steps.length);
      expect(sql.exec(`SELECT * FROM ${table}`).toArray()).toEqual(before);

      // A second wake finds the version and leaves everything as it is.
      const shape = tables(sql);
      new cls(state, env as unknown as Cloudflare.Env);
      expect(tables(sql)).toEqual(shape);
      expect(version(sql)).toBe(steps.length);
    });
  });

  it("refuses storage written by a newer release instead of guessing", async () => {
    await inObject(binding, "schema-newer", (state) => {
      state.storage.sql.exec(`UPDATE ${SCHEMA_TABLE} SET version = ?`, steps.length + 1);
      expect(() => new cls(state, env as unknown as Cloudflare.Env)).toThrow(/newer/);
    });
  });
});
