import * as v from "valibot";

/**
 * Where the periodic re-introspection (maintenance/reconcile.ts) resumes, and which run may work:
 * one ReconcileCursor Durable Object for the app holds both. Not KV: a run saves its position
 * after every connection (a killed run resumes right after the last one it finished), and two
 * runs must never work at once (an operator's every-minute cron, a slow run); KV is eventually
 * consistent and can give neither. A Durable Object is strongly consistent and serializes the
 * two runs' requests, so exactly one gets the lease.
 *
 * The lease names its holder (a random id per run) and expires at start + time budget + one
 * writer call's bound: a run stops by its budget well before that, and one that died leaves a
 * lease the next run may take after it expires. Only the holder moves the position, so a run
 * that outlived its lease cannot move the cursor under the run that took over.
 */
export interface ReconcilePosition {
  /** The KV list cursor of the page being worked through; absent for the first page. */
  c?: string | undefined;
  /** The last `conn:` key handled on that page. */
  a?: string | undefined;
}

export interface CursorState {
  position: ReconcilePosition;
  lease?: { holder: string; expiresAt: number } | undefined;
}

export type LeaseGrant = { acquired: true; position: ReconcilePosition } | { acquired: false; expiresAt: number };

const PositionSchema = v.object({
  c: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  a: v.optional(v.pipe(v.string(), v.maxLength(512))),
});
const StateSchema = v.object({
  position: PositionSchema,
  lease: v.optional(v.object({ holder: v.string(), expiresAt: v.number() })),
});

/** A stored state, or the start of a pass with no lease when it is absent or unreadable. */
export function readState(raw: unknown): CursorState {
  const parsed = v.safeParse(StateSchema, raw);
  return parsed.success ? parsed.output : { position: {} };
}

/** The transitions, pure (the object applies them in one storage transaction). */
export const transitions = {
  /** Takes the lease when it is free, expired (`now` at or past its end) or already this run's. */
  acquire(state: CursorState, holder: string, now: number, leaseMs: number): [CursorState, LeaseGrant] {
    const lease = state.lease;
    if (lease && lease.holder !== holder && now < lease.expiresAt) {
      return [state, { acquired: false, expiresAt: lease.expiresAt }];
    }
    return [
      { position: state.position, lease: { holder, expiresAt: now + leaseMs } },
      { acquired: true, position: state.position },
    ];
  },
  /** Moves the position, for the lease's holder only; false: the lease went to another run. */
  advance(state: CursorState, holder: string, position: ReconcilePosition): [CursorState, boolean] {
    if (state.lease?.holder !== holder) return [state, false];
    return [{ ...state, position: clean(position) }, true];
  },
  /** Ends the holder's lease, saving its last position when given. */
  release(state: CursorState, holder: string, position: ReconcilePosition | undefined): [CursorState, boolean] {
    if (state.lease?.holder !== holder) return [state, false];
    return [{ position: position ? clean(position) : state.position }, true];
  },
};

const clean = (p: ReconcilePosition): ReconcilePosition => v.parse(PositionSchema, { c: p.c, a: p.a });
