import { beforeEach, describe, expect, it } from "vitest";
import { expectNoSecrets } from "../support/assert";
import { FAULTS, fastWorker, recordDelays, UPSTREAM_MARKER } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, kvEntries, seedConnection } from "../support/fixtures";
import { API_KEY } from "../support/http";
import { ownBudget } from "../support/worker";

/**
 * Faults behind the Finch proxy. The proxy's contract (docs/api.md) differs from the
 * operations built on callFinch: Finch's answers, errors included, come back as Finch sent
 * them (status, body, Retry-After), and nothing is ever retried, since a repeated POST could
 * act twice at Finch. Only when there is no answer at all does the edge answer itself:
 * refused 502 finch_unavailable, timeout 504 finch_timeout. Storage never changes.
 */
beforeEach(clearKv);
const ROUTE = "GET /employer/company";

type Expected = { edge: { status: number; code: string } } | { passThrough: true };
const EXPECTED: Record<string, Expected> = {
  "connection refused": { edge: { status: 502, code: "finch_unavailable" } },
  "no answer until the request times out": { edge: { status: 504, code: "finch_timeout" } },
};

async function setup() {
  // Its own budget: a Finch 429 fault pauses the product for the app (tested in rate-budget).
  const worker = fastWorker(ownBudget());
  const { connectionId, accessToken } = await seedConnection();
  await seedConnection({ customerId: "globex", customerName: "Globex" });
  const before = await kvEntries();
  const send = () =>
    worker(`/api/connections/${connectionId}/finch/employer/company`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
  return { before, send, secrets: [accessToken, API_KEY] };
}

// An endless body is what a streaming proxy passes on by design; bounded bodies are for what we parse.
const PROXIED = FAULTS.filter((f) => !f.name.includes("endless"));

describe("proxy faults", () => {
  it.each(PROXIED)("$name: one attempt, storage unchanged", async (fault) => {
    const { before, send, secrets } = await setup();
    let upstream: Response | undefined;
    finch().override(ROUTE, async (req, n) => {
      const res = await fault.respond(req, n);
      upstream = res.clone();
      return res;
    });
    const delays = recordDelays();
    const res = await send();
    const body = await res.clone().text();

    const expected = EXPECTED[fault.name] ?? { passThrough: true };
    if ("edge" in expected) {
      expect(res.status, body).toBe(expected.edge.status);
      expect(JSON.parse(body).error.code).toBe(expected.edge.code);
      expect(body).not.toContain(UPSTREAM_MARKER);
    } else {
      if (!upstream) throw new Error("Finch was not reached");
      expect(res.status).toBe(upstream.status);
      expect(body).toBe(await upstream.text());
      expect(res.headers.get("retry-after")).toBe(upstream.headers.get("retry-after"));
    }
    expect(finch().calls(ROUTE)).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(await kvEntries()).toEqual(before);
    await expectNoSecrets(res, secrets);
    await expectNoSecrets(res);
  });
});
