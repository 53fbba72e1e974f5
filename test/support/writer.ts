import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";

/**
 * Reaching a connection's writer (its Durable Object) from a test: its storage, its alarm, and
 * a reset of the object at a chosen moment.
 */
export function writerOf(id: string): DurableObjectStub {
  const ns = env.CONNECTION_WRITER as DurableObjectNamespace;
  return ns.get(ns.idFromName(id));
}

/** Runs `work` inside the writer's object (creating it if it does not exist yet). */
export function inWriter<T>(id: string, work: (state: DurableObjectState) => T | Promise<T>): Promise<T> {
  return runInDurableObject(writerOf(id), (_instance, state) => work(state));
}

/** The KV writes the writer still owes, by key. */
export function owedKeys(id: string): Promise<string[]> {
  return inWriter(id, (state) =>
    state.storage.sql
      .exec<{ key: string }>("SELECT key FROM kv_owed ORDER BY key")
      .toArray()
      .map((r) => r.key),
  );
}

/**
 * Time passes until every owed write is due again (backoff and settle time over), then the
 * writer's alarm fires. Resolves to whether an alarm was set.
 */
export async function alarmLater(id: string): Promise<boolean> {
  await inWriter(id, (state) => state.storage.sql.exec("UPDATE kv_owed SET due_at = 0, clean_from = 0"));
  return runDurableObjectAlarm(writerOf(id));
}

/**
 * Resets the writer (as the runtime may, between any two awaits) the first time it writes a KV
 * key `when` picks: that write never answers, and the object is reset a moment later, once its
 * commit is stored. Later writes go through.
 */
export async function resetWriterOnKvWrite(id: string, when: (key: string) => boolean) {
  const state = await inWriter(id, (s) => s);
  const ns = env.CONNECTIONS as unknown as Record<"put", (...args: unknown[]) => Promise<unknown>>;
  const original = ns.put.bind(ns);
  let fired = false;
  const spy = vi.spyOn(ns, "put").mockImplementation((key: unknown, ...rest: unknown[]) => {
    if (fired || typeof key !== "string" || !when(key)) return original(key, ...rest);
    fired = true;
    setTimeout(() => {
      try {
        state.abort("test: the object is reset");
      } catch {
        // abort() throws to its caller as it resets the object.
      }
    }, 20);
    return new Promise(() => {});
  });
  return { spy, fired: () => fired };
}
