/**
 * Versioned schemas for a Durable Object's SQLite storage. `steps[i]` holds the statements
 * that take the schema from version i to i + 1; the version reached is kept in a one-row
 * table, so an object that wakes at the current version runs one SELECT and no DDL, and an
 * object stored by an older release runs exactly the steps it lacks, once, in a transaction.
 * Steps are only ever appended (a released step is never edited).
 */
export const SCHEMA_TABLE = "schema_version";

export function migrate(
  storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
  steps: readonly (readonly string[])[],
): number {
  const { sql } = storage;
  const read = () => {
    const rows = sql.exec<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE}`).toArray();
    return rows[0]?.version ?? 0;
  };
  let version: number;
  try {
    version = read();
  } catch {
    version = -1;
  }
  if (version === steps.length) return version;
  return storage.transactionSync(() => {
    sql.exec(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (version INTEGER NOT NULL)`);
    let at = read();
    if (at > steps.length) throw new Error(`storage schema ${at} is newer than this code (${steps.length})`);
    for (; at < steps.length; at++) for (const statement of steps[at] ?? []) sql.exec(statement);
    sql.exec(`DELETE FROM ${SCHEMA_TABLE}`);
    sql.exec(`INSERT INTO ${SCHEMA_TABLE} (version) VALUES (?)`, at);
    return at;
  });
}
