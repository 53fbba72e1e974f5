import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FinchRpcError } from "../../src/rpc/error";
import { expectError } from "../support/assert";
import { finch } from "../support/finch";
import { countingKv, seedConnection } from "../support/fixtures";
import { api } from "../support/http";

/**
 * `entity_ids` through the proxy (issue 21): Finch's endpoints take it as a query parameter to
 * say which entities of a multi-entity connection a call is for. It passes through exactly as
 * sent; a value that is not one entity id is refused with 400 param_invalid before Finch is
 * asked, at no storage cost.
 */
const base = (id: string) => `/api/connections/${id}/finch`;
const ENTITY = "6d1f4c2a-0000-4000-8000-00000000e001";
const OTHER = "6d1f4c2a-0000-4000-8000-00000000e002";

describe("proxy: entity_ids", () => {
  it.each([
    `?entity_ids=${ENTITY}`,
    `?entity_ids%5B%5D=${ENTITY}`,
    `?entity_ids[]=${ENTITY}&entity_ids[]=${OTHER}`,
    `?entity_ids[0]=${ENTITY}&limit=5`,
    "?limit=5&offset=0",
  ])("passes %s through unchanged", async (search) => {
    const { connectionId } = await seedConnection();
    const res = await api(`${base(connectionId)}/employer/directory${search}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const [sent] = finch().calls("GET /employer/directory");
    expect(sent?.url.search).toBe(search);
  });

  it.each([
    "?entity_ids=",
    "?entity_ids=not%20an%20id",
    "?entity_ids=a%2Fb",
    `?entity_ids=${ENTITY},${OTHER}`,
    `?entity_ids[]=${ENTITY}&entity_ids[]=..%2F`,
    `?entity_ids[x]=${ENTITY}`,
    `?%65ntity_ids=bad%0Aid`,
    `?entity_ids=${"x".repeat(129)}`,
  ])("refuses %s with param_invalid, no upstream call and no storage read", async (search) => {
    const { connectionId } = await seedConnection();
    const { ops } = countingKv();
    const res = await api(`${base(connectionId)}/employer/directory${search}`);
    await expectError(res, 400, "param_invalid");
    expect(finch().sent).toEqual([]);
    expect(ops.reads).toBe(0);
  });

  it("RPC fetchFinch follows the same rule", async () => {
    const { connectionId } = await seedConnection();
    const rpc = exports.FinchConnections;
    const failure = await rpc
      .fetchFinch(connectionId, { method: "GET", path: "/employer/directory", query: { entity_ids: "not an id" } })
      .then(
        () => undefined,
        (e: unknown) => FinchRpcError.from(e)?.code,
      );
    expect(failure).toBe("param_invalid");
    expect(finch().sent).toEqual([]);
  });
});
