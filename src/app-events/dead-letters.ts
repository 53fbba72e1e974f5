import * as v from "valibot";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import { objectCall } from "../lib/object-call";
import type { DeadLetter, EventDeadLetters } from "./dead-letters-object";
import { parseAppEvent } from "./model";
import { dispatchEvents, type EventSink } from "./outbox";

/**
 * Dead-lettered app events: the store (one EventDeadLetters object for the app) and the
 * redelivery use case behind `POST /api/events/redeliver`.
 */
export interface DeadLetterStore {
  store(
    entries: readonly { event_id: string; body: string }[],
    deadAt: string,
  ): Promise<{ stored: number; dropped: number }>;
  page(input: { after: number; limit: number; ids?: readonly string[] }): Promise<DeadLetter[]>;
  remove(seqs: readonly number[]): Promise<number>;
}

/** The one object's name: every dead letter of this deployment lives there. */
const DEAD_LETTERS_OBJECT = "app-webhooks";

export function deadLetterStore(ns: DurableObjectNamespace<EventDeadLetters>): DeadLetterStore {
  const stub = () => ns.get(ns.idFromName(DEAD_LETTERS_OBJECT));
  return {
    store: (entries, deadAt) => objectCall("dead letters store", () => stub().store(entries, deadAt)),
    page: (input) => objectCall("dead letters page", async () => (await stub().page(input)) as DeadLetter[]),
    remove: (seqs) => objectCall("dead letters remove", () => stub().remove(seqs)),
  };
}

export const REDELIVER_MAX = 100;

const CursorSchema = v.object({ after: v.pipe(v.number(), v.integer(), v.minValue(0)) });

/** A checked request (src/operations/admin.ts parses it from outside input). */
export interface RedeliverInput {
  eventIds: string[] | undefined;
  cursor: string | undefined;
  limit: number | undefined;
}

export interface RedeliverResult {
  /** Events re-enqueued to APP_WEBHOOK_QUEUE, each with its original id. */
  redelivered: number;
  /** Requested ids that are not (or no longer) dead-lettered. */
  not_found: string[];
  /** Stored rows that no longer parse as events; left in place and logged. */
  unreadable: number;
  /** Pass back as `?cursor=` for the next page; null when this page was the last. */
  next_cursor: string | null;
}

/**
 * Re-enqueues one page of dead letters and removes exactly those rows afterwards (a failed
 * send removes nothing). The cursor moves by arrival order, so events that die again while an
 * operator pages through come after the cursor's end and are not replayed twice in one pass.
 */
export async function redeliver(
  deps: { store: DeadLetterStore; queue: EventSink },
  input: RedeliverInput,
): Promise<RedeliverResult> {
  const limit = input.limit ?? REDELIVER_MAX;
  const after = input.cursor === undefined ? 0 : decodeCursor(CursorSchema, input.cursor).after;
  const rows = await deps.store.page(
    input.eventIds ? { after: 0, limit: REDELIVER_MAX, ids: input.eventIds } : { after, limit },
  );
  const events = [];
  const seqs: number[] = [];
  let unreadable = 0;
  for (const row of rows) {
    try {
      events.push(parseAppEvent(JSON.parse(row.body)));
      seqs.push(row.seq);
    } catch {
      unreadable++;
      console.log(JSON.stringify({ level: "error", msg: "app_webhook_dead_letter_unreadable", seq: row.seq }));
    }
  }
  await dispatchEvents({ appQueue: undefined, webhookQueue: deps.queue }, events);
  if (seqs.length) await deps.store.remove(seqs);
  const found = new Set(rows.map((r) => r.event_id));
  const last = rows.at(-1);
  return {
    redelivered: events.length,
    not_found: (input.eventIds ?? []).filter((id) => !found.has(id)),
    unreadable,
    next_cursor: !input.eventIds && last && rows.length === limit ? encodeCursor({ after: last.seq }) : null,
  };
}
