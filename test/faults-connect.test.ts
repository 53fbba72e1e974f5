import { beforeEach, describe, expect, it } from "vitest";
import { seedConnection } from "./support/api";
import { expectFaultHandled, FAULTS, type FaultedOp, fastWorker, recordDelays } from "./support/faults";
import { finch } from "./support/finch";
import { mintTicket } from "./support/http";
import { clearKv } from "./support/kv";

/**
 * Faults on Connect session creation (POST /connect/sessions and .../reauthenticate). Both
 * are idempotent at Finch (a second session is simply unused), so refused connections, 429
 * and 502-504 are retried; everything else fails at once. No fault writes to storage.
 */
beforeEach(clearKv);
const worker = fastWorker();

const newSession: FaultedOp = {
  route: "POST /connect/sessions",
  idempotent: true,
  async prepare() {
    // Another customer's connection, so "storage unchanged" compares something.
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    const ticket = await mintTicket();
    return { send: () => worker(`/connect/session?ticket=${ticket}`), secrets: [ticket] };
  },
};

const reauthSession: FaultedOp = {
  route: "POST /connect/sessions/reauthenticate",
  idempotent: true,
  async prepare() {
    const { connectionId } = await seedConnection();
    const ticket = await mintTicket({ connection_id: connectionId });
    return { send: () => worker(`/connect/session?ticket=${ticket}`), secrets: [ticket] };
  },
};

describe.each([
  ["new Connect session", newSession],
  ["re-authentication session", reauthSession],
])("%s", (_, op) => {
  it.each(FAULTS)("$name", async (fault) => {
    const res = await expectFaultHandled(op, fault);
    // No flow was started: no pending cookie to bind a callback to.
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe("the redirect flow's /connect shows the same failure as a page", () => {
  it("502 after retries: an HTML error page with the code, no redirect to Finch", async () => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    finch().override("POST /connect/sessions", () => new Response("<html>bad gateway</html>", { status: 502 }));
    const delays = recordDelays();
    const ticket = await mintTicket();
    const res = await worker(`/connect?ticket=${ticket}`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(502);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("finch_unavailable");
    expect(finch().calls("POST /connect/sessions")).toHaveLength(3);
    expect(delays).toEqual([200, 600]);
  });
});
