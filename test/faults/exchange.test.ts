import { beforeEach, describe, expect, it } from "vitest";
import { JSON_ACCEPT } from "../support/assert";
import { expectFaultHandled, FAULTS, type FaultedOp, fastWorker } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";

/**
 * Faults on the code exchange (POST /auth/token). The code is single-use: once Finch may have
 * seen it, a repeat can only fail or double-spend, so every fault gets exactly one attempt,
 * whatever it is. The flow cannot be resumed afterwards (the pending cookie is cleared), and
 * nothing is stored: not for a new connection, not over an existing one being re-authenticated.
 */
beforeEach(clearKv);
const worker = fastWorker();

async function callbackOp(claims: () => Promise<Record<string, unknown>>): Promise<FaultedOp> {
  return {
    route: "POST /auth/token",
    idempotent: false,
    async prepare() {
      const flow = await startFlow(await claims());
      const code = finch().mock.approve(flow.sessionId);
      const send = () =>
        worker(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie: flow.jar.header() } });
      return { send, secrets: [code, flow.state, flow.ticket] };
    },
  };
}

const newConnection = () =>
  callbackOp(async () => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    return {};
  });
const reauthentication = () => callbackOp(async () => ({ connection_id: (await seedConnection()).connectionId }));

describe.each([
  ["callback for a new connection", newConnection],
  ["callback re-authenticating a stored connection", reauthentication],
])("%s", (_, op) => {
  it.each(FAULTS)("$name: one attempt, nothing stored, flow closed", async (fault) => {
    const res = await expectFaultHandled(await op(), fault);
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
    expect(res.headers.getSetCookie().some((c) => /^__Host-fce_state=;.*max-age=0/i.test(c))).toBe(true);
  });
});

describe("after an exchange fault", () => {
  it("the next customer's connect flow still completes", async () => {
    const op = await newConnection();
    await expectFaultHandled(op, FAULTS[0]!);
    finch().override("POST /auth/token", (req) => finch().mock.fetch(req));
    const { res } = await connectCustomer({ sub: "initech", name: "Initech" }, undefined, worker, JSON_ACCEPT);
    expect(res.status, await res.clone().text()).toBe(200);
  });
});
