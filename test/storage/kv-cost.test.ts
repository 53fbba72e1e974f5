import { beforeEach, describe, expect, it } from "vitest";
import { finch } from "../support/finch";
import { clearKv, countingKv, kvNames } from "../support/fixtures";
import { connectCustomer, startFlow } from "../support/flow";
import { call, Jar } from "../support/http";

/**
 * What a connect costs in KV operations (docs/storage-schema.md quotes these numbers), counted
 * at the edge and in the connection's writer together: starting Connect touches KV only for a
 * re-authentication (the ownership read); at the callback the writer reads KV once for a
 * connection it has never seen (to adopt a record written before it existed), then writes the
 * record, plus the index entry for a new connection only.
 */
beforeEach(clearKv);

describe("KV operations per connect", () => {
  it("a new connection: /connect none; /callback 1 read, 2 writes", async () => {
    const counted = countingKv();
    await startFlow({}, new Jar());
    expect(counted.ops).toEqual({ reads: 0, writes: 0, lists: 0, deletes: 0 });

    const { res } = await connectCustomer({}, new Jar());
    expect(res.status).toBe(200);
    expect(counted.ops).toEqual({ reads: 1, writes: 2, lists: 0, deletes: 0 });
    expect(await kvNames()).toHaveLength(2);
  });

  it("a re-authentication: /connect 1 read; /callback no read (the writer holds the record), 1 write", async () => {
    const first = await connectCustomer();
    expect(first.res.status).toBe(200);
    const [id = ""] = [...finch().mock.connections.keys()];

    const counted = countingKv();
    const flow = await startFlow({ connection_id: id }, new Jar());
    expect(counted.ops).toEqual({ reads: 1, writes: 0, lists: 0, deletes: 0 });

    const code = finch().mock.approve(flow.sessionId);
    const res = await call(`/callback?code=${code}&state=${flow.state}`, { headers: { cookie: flow.jar.header() } });
    expect(res.status).toBe(200);
    expect(counted.ops).toEqual({ reads: 1, writes: 1, lists: 0, deletes: 0 });
  });

  it("a replayed callback and a refused one cost nothing", async () => {
    const done = await connectCustomer({}, new Jar());
    const counted = countingKv();
    const path = `/callback?code=${done.code}&state=${done.state}`;
    expect((await call(path, { headers: { cookie: done.jar.header() } })).status).toBe(200);
    expect((await call(path)).status).toBe(403);
    expect(counted.ops).toEqual({ reads: 0, writes: 0, lists: 0, deletes: 0 });
  });
});
