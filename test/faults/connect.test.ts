import { beforeEach, describe, expect, it } from "vitest";
import { expectFaultHandled, FAULTS, type FaultedOp, fastWorker, recordDelays } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import { mintTicket } from "../support/http";

/**
 * Faults on Connect session creation (POST /connect/sessions and .../reauthenticate). Both
 * are idempotent at Finch (a second session is simply unused), so a refused connection or a
 * 502-504 gets one retry; a 429 and everything else fail at once. No fault writes to storage.
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
  it("502 after one retry: an HTML error page with the code, no redirect to Finch", async () => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    finch().override("POST /connect/sessions", () => new Response("<html>bad gateway</html>", { status: 502 }));
    const delays = recordDelays();
    const ticket = await mintTicket();
    const res = await worker(`/connect?ticket=${ticket}`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(502);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("finch_unavailable");
    expect(finch().calls("POST /connect/sessions")).toHaveLength(2);
    expect(delays).toEqual([200]);
  });
});

describe("retries never amplify Finch's load (issue 9, finding 5)", () => {
  it("a 429 on session creation: one Finch call, 503 finch_rate_limited with Finch's Retry-After", async () => {
    finch().override("POST /connect/sessions", () =>
      Response.json({ code: 429, name: "rate_limit_error" }, { status: 429, headers: { "retry-after": "1" } }),
    );
    const delays = recordDelays();
    const res = await worker(`/connect?ticket=${await mintTicket()}`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("finch_rate_limited");
    expect(res.headers.get("retry-after")).toBe("1");
    expect(finch().calls("POST /connect/sessions")).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it("Finch's retry-after-ms becomes whole seconds, rounded up", async () => {
    finch().override("POST /connect/sessions", () =>
      Response.json({ code: 429 }, { status: 429, headers: { "retry-after-ms": "2001" } }),
    );
    const res = await worker(`/connect/session?ticket=${await mintTicket()}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(finch().calls("POST /connect/sessions")).toHaveLength(1);
  });

  it.each([502, 503, 504])("a %i every time: at most 2 Finch calls", async (status) => {
    finch().override("POST /connect/sessions", () => new Response("busy", { status }));
    recordDelays();
    const res = await worker(`/connect?ticket=${await mintTicket()}`);
    expect(res.status).toBe(502);
    expect(finch().calls("POST /connect/sessions")).toHaveLength(2);
  });

  it("a 503 then a success: the one retry completes the start", async () => {
    let calls = 0;
    finch().override("POST /connect/sessions", (req) =>
      ++calls === 1 ? new Response("busy", { status: 503 }) : finch().mock.fetch(req),
    );
    recordDelays();
    const res = await worker(`/connect?ticket=${await mintTicket()}`);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(calls).toBe(2);
  });
});
