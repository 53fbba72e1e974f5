import * as v from "valibot";
import { AppError } from "../errors";
import { RECONCILE_CURSOR_KEY } from "./keys";

/**
 * Where the periodic re-introspection (domain/reconcile.ts) resumes: one small KV value.
 * KV rather than a Durable Object: only the Cron Trigger reads and writes it, runs are minutes
 * apart (far longer than KV's ~60 s propagation), and a stale or lost position only repeats
 * or restarts a pass, which costs writer calls that find nothing due, never a wrong status.
 */
export interface ReconcilePosition {
  /** The KV list cursor of the page being worked through; absent for the first page. */
  c?: string | undefined;
  /** The last `conn:` key handled on that page. */
  a?: string | undefined;
}

const PositionSchema = v.object({
  c: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  a: v.optional(v.pipe(v.string(), v.maxLength(512))),
});

export class ReconcileCursorStore {
  constructor(private readonly ns: KVNamespace) {}

  /** The saved position; the start when none is saved or it is unreadable. */
  async get(): Promise<ReconcilePosition> {
    const raw = await this.kv(() => this.ns.get(RECONCILE_CURSOR_KEY, "text"));
    if (raw === null) return {};
    try {
      const parsed = v.safeParse(PositionSchema, JSON.parse(raw));
      return parsed.success ? parsed.output : {};
    } catch {
      return {};
    }
  }

  /** Saves a position; the start of a new pass removes the key. */
  async put(position: ReconcilePosition): Promise<void> {
    if (position.c === undefined && position.a === undefined) {
      await this.kv(() => this.ns.delete(RECONCILE_CURSOR_KEY));
      return;
    }
    await this.kv(() => this.ns.put(RECONCILE_CURSOR_KEY, JSON.stringify(position)));
  }

  private async kv<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch {
      throw new AppError("storage_unavailable", "kv reconcile cursor failed");
    }
  }
}
