import {
  type AppEvent,
  type ConnectionState,
  type CREATED_SOURCES,
  newEvent,
  type STATE_FIELDS,
  type STATUS_CHANGE_REASONS,
  type SYNC_JOB_TYPES,
} from "./model";

/**
 * One builder per lifecycle change, for the connection's writer (src/writer/change-events.ts decides
 * which change is which, and builds the subject from the stored record, bounded and
 * normalised). Every event carries the connection's state after the change (`connection`),
 * and its envelope's generation and customer id are that state's.
 */
export interface EventSubject {
  connection_id: string;
  /** The connection after the change, generation included. */
  connection: ConnectionState;
}

type Reason = (typeof STATUS_CHANGE_REASONS)[number];

/** `at`: when the change was stored; default now. */
const envelope = (c: EventSubject, at: string | undefined) => ({
  connection_id: c.connection_id,
  customer_id: c.connection.customer_id,
  generation: c.connection.generation,
  connection: c.connection,
  ...(at ? { occurred_at: at } : {}),
});

export const connectionCreated = (c: EventSubject, source: (typeof CREATED_SOURCES)[number], at?: string): AppEvent =>
  newEvent({
    ...envelope(c, at),
    type: "connection.created",
    data: {
      source,
      status: c.connection.status,
      products: [...c.connection.products],
      provider_id: c.connection.provider_id,
    },
  });

export const connectionReauthenticated = (c: EventSubject, at?: string): AppEvent =>
  newEvent({
    ...envelope(c, at),
    type: "connection.reauthenticated",
    data: { status: c.connection.status, products: [...c.connection.products] },
  });

/**
 * The status moved from `oldStatus` to `c.connection.status`; undefined when it did not move
 * (a repeated webhook or an introspect that found nothing new changes nothing, so it tells nothing).
 */
export function statusChanged(
  c: EventSubject,
  oldStatus: string | null,
  reason: Reason,
  at?: string,
): AppEvent | undefined {
  if (oldStatus === c.connection.status) return undefined;
  return newEvent({
    ...envelope(c, at),
    type: "connection.status_changed",
    data: { old_status: oldStatus, new_status: c.connection.status, reason },
  });
}

export const dataSynced = (
  c: EventSubject,
  job: { job_type: (typeof SYNC_JOB_TYPES)[number]; job_id: string; completed_at: string },
  at?: string,
): AppEvent => newEvent({ ...envelope(c, at), type: "connection.data_synced", data: { ...job } });

/** Facts of the connection changed with no other event to tell them (products, entities, ...). */
export const connectionUpdated = (
  c: EventSubject,
  changed: readonly (typeof STATE_FIELDS)[number][],
  reason: Reason,
  at?: string,
): AppEvent => newEvent({ ...envelope(c, at), type: "connection.updated", data: { changed: [...changed], reason } });

/** `c` is the tombstone's state (status `disconnected`); `oldStatus` the status it had before. */
export const connectionDisconnected = (c: EventSubject, oldStatus: string | null, at?: string): AppEvent =>
  newEvent({ ...envelope(c, at), type: "connection.disconnected", data: { old_status: oldStatus } });
