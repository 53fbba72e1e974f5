import { beforeEach, describe, expect, it } from "vitest";
import { expectFaultHandled, FAULTS, type FaultedOp, fastWorker } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { API_KEY } from "../support/http";

/**
 * Faults on the API's own Finch calls: GET /introspect (POST .../introspect) and
 * POST /disconnect (DELETE /api/connections/:id). Both only read or end the connection, so
 * they are retried like session creation. Whatever fails, the record stays exactly as it
 * was: introspect stores nothing it did not get, and a failed disconnect must keep the record
 * so the app retries instead of leaving a connection billed at Finch with no record here.
 */
beforeEach(clearKv);
const worker = fastWorker();
const auth = { authorization: `Bearer ${API_KEY}` };

const apiOp = (route: string, method: string, suffix: string): FaultedOp => ({
  route,
  idempotent: true,
  async prepare() {
    const { connectionId, accessToken } = await seedConnection();
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    const send = () => worker(`/api/connections/${connectionId}${suffix}`, { method, headers: auth });
    return { send, secrets: [accessToken, API_KEY] };
  },
});

describe.each([
  ["introspect", apiOp("GET /introspect", "POST", "/introspect")],
  ["disconnect", apiOp("POST /disconnect", "DELETE", "")],
])("%s", (_, op) => {
  it.each(FAULTS)("$name", async (fault) => {
    await expectFaultHandled(op, fault);
  });
});

describe("after a failed disconnect", () => {
  it("a retry once Finch is back disconnects and removes the record", async () => {
    const { connectionId } = await seedConnection();
    const remove = () => worker(`/api/connections/${connectionId}`, { method: "DELETE", headers: auth });
    const op: FaultedOp = { route: "POST /disconnect", idempotent: true, prepare: async () => ({ send: remove }) };
    await expectFaultHandled(op, FAULTS[1]!);
    expect(await rawRecord(connectionId)).not.toBeNull();

    finch().override("POST /disconnect", (req) => finch().mock.fetch(req));
    const res = await remove();
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await rawRecord(connectionId)).toBeNull();
    expect(finch().mock.connections.get(connectionId)?.disconnected).toBe(true);
  });
});
