import { beforeEach, describe, expect, it } from "vitest";
import {
  connectionCreated,
  connectionDisconnected,
  connectionReauthenticated,
  dataSynced,
  statusChanged,
} from "../src/events/builders";
import { parseAppEvent } from "../src/events/model";
import { finch } from "./support/finch";
import { clearKv, storedRecord as record } from "./support/fixtures";
import { connected } from "./support/webhooks";

/**
 * The builders the connection's writer calls: each change gives exactly its event, built from
 * the stored record, and nothing of the token (plain or sealed) reaches the event.
 */
beforeEach(clearKv);

describe("event builders over a real stored connection", () => {
  it("copy only the event's fields: no token, sealed or plain, in any event", async () => {
    const id = await connected();
    const stored = await record(id);
    const plainTokens = [...finch().mock.tokens.keys()];
    expect(plainTokens.length).toBeGreaterThan(0);
    const stamp = { generation: 2, at: "2026-03-01T12:00:00.000Z" };
    const events = [
      connectionCreated(stored, "connect", stamp),
      connectionReauthenticated(stored, stamp),
      statusChanged(stored, "pending", "webhook", stamp),
      dataSynced(stored, { job_type: "data_sync_all", job_id: "j-1", completed_at: stamp.at }, stamp),
      connectionDisconnected(stored, stamp),
    ];
    for (const event of events) {
      const json = JSON.stringify(event);
      expect(parseAppEvent(JSON.parse(json))).toEqual(event);
      for (const secret of [...plainTokens, stored.token.ct, stored.token.iv]) expect(json).not.toContain(secret);
      expect(event).toMatchObject({ connection_id: id, customer_id: "acme", generation: 2, occurred_at: stamp.at });
    }
    expect(events[0]?.data).toEqual({
      source: "connect",
      status: stored.status,
      products: stored.products,
      provider_id: stored.provider_id,
    });
    expect(events[2]?.data).toEqual({ old_status: "pending", new_status: stored.status, reason: "webhook" });
    expect(events[4]?.data).toEqual({ old_status: stored.status });
  });
});

describe("statusChanged", () => {
  const subject = {
    connection_id: "c-1",
    customer_id: "acme",
    status: "reauth",
    products: ["company"],
    provider_id: null,
  };
  it("tells nothing when the status did not move", () => {
    expect(statusChanged(subject, "reauth", "introspect", { generation: 5 })).toBeUndefined();
  });
  it("gives one event with both statuses and the reason when it did", () => {
    const e = statusChanged(subject, null, "reconcile", { generation: 5 });
    expect(e).toMatchObject({
      type: "connection.status_changed",
      generation: 5,
      data: { old_status: null, new_status: "reauth", reason: "reconcile" },
    });
  });
});
