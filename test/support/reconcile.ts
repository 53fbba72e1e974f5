import { env } from "cloudflare:workers";
import { RECONCILE_CURSOR_OBJECT, reconcileCursorStore } from "../../src/maintenance/reconcile-cursor-client";
import type { CursorState } from "../../src/maintenance/reconcile-lease";

/** The reconciliation's one ReconcileCursor object, as the Worker names it. */
export const cursorObject = () => env.RECONCILE_CURSOR.get(env.RECONCILE_CURSOR.idFromName(RECONCILE_CURSOR_OBJECT));

/** What the object holds now: the position and the lease, if any. */
export const cursorState = async (): Promise<CursorState> => (await cursorObject().state()) as CursorState;

/**
 * Back to the start of a pass with no lease (the object outlives a test within a file), through
 * the object's own API: a lease taken at the end of time is free to take, and given back.
 */
export async function resetCursor(): Promise<void> {
  const store = reconcileCursorStore(env.RECONCILE_CURSOR);
  const grant = await store.acquire("test-reset", Number.MAX_SAFE_INTEGER, 0);
  if (!grant.acquired) throw new Error("reset: lease not free");
  await store.release("test-reset", {});
}
