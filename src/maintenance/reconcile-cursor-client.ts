import { objectCall } from "../lib/object-call";
import type { ReconcileCursor } from "./reconcile-cursor";
import type { LeaseGrant, ReconcilePosition } from "./reconcile-lease";

/** The run's view of the one object. */
export interface ReconcileCursorStore {
  acquire(holder: string, now: number, leaseMs: number): Promise<LeaseGrant>;
  advance(holder: string, position: ReconcilePosition): Promise<boolean>;
  release(holder: string, position?: ReconcilePosition): Promise<boolean>;
}

/** The one object's name: every run of this deployment shares it. */
export const RECONCILE_CURSOR_OBJECT = "reconcile";

export function reconcileCursorStore(ns: DurableObjectNamespace<ReconcileCursor>): ReconcileCursorStore {
  const stub = () => ns.get(ns.idFromName(RECONCILE_CURSOR_OBJECT));
  return {
    acquire: (holder, now, leaseMs) =>
      objectCall("reconcile cursor acquire", async () => (await stub().acquire(holder, now, leaseMs)) as LeaseGrant),
    advance: (holder, position) => objectCall("reconcile cursor advance", () => stub().advance(holder, position)),
    release: (holder, position) => objectCall("reconcile cursor release", () => stub().release(holder, position)),
  };
}
