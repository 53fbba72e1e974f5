import { beforeEach, describe, expect, it } from "vitest";
import { finch } from "./support/finch";
import { connectCustomer, startFlow } from "./support/flow";
import { Jar } from "./support/http";
import { clearKv, countingKv, kvNames } from "./support/kv";
import { workerWith } from "./support/worker";

/**
 * What a connect costs in KV operations (docs/storage-schema.md quotes these numbers):
 * starting Connect touches KV only for a re-authentication (the ownership read); the
 * callback reads the existing record once, then writes the record, plus the index entry
 * for a new connection only.
 */
beforeEach(clearKv);

describe("KV operations per connect", () => {
  it("a new connection: /connect none; /callback 1 read, 2 writes", async () => {
    const counted = countingKv();
    const worker = workerWith({ CONNECTIONS: counted.kv });
    await startFlow({}, new Jar(), worker);
    expect(counted.ops).toEqual({ reads: 0, writes: 0, lists: 0, deletes: 0 });

    await clearKv();
    const { res } = await connectCustomer({}, new Jar(), worker);
    expect(res.status).toBe(200);
    expect(counted.ops).toEqual({ reads: 1, writes: 2, lists: 0, deletes: 0 });
    expect(await kvNames()).toHaveLength(2);
  });

  it("a re-authentication: /connect 1 read; /callback 1 read, 1 write", async () => {
    const first = await connectCustomer();
    expect(first.res.status).toBe(200);
    const [id = ""] = [...finch().mock.connections.keys()];

    const counted = countingKv();
    const worker = workerWith({ CONNECTIONS: counted.kv });
    const flow = await startFlow({ connection_id: id }, new Jar(), worker);
    expect(counted.ops).toEqual({ reads: 1, writes: 0, lists: 0, deletes: 0 });

    const code = finch().mock.approve(flow.sessionId);
    const res = await worker(`/callback?code=${code}&state=${flow.state}`, { headers: { cookie: flow.jar.header() } });
    expect(res.status).toBe(200);
    expect(counted.ops).toEqual({ reads: 2, writes: 1, lists: 0, deletes: 0 });
  });

  it("a replayed callback and a refused one cost nothing", async () => {
    const counted = countingKv();
    const worker = workerWith({ CONNECTIONS: counted.kv });
    const done = await connectCustomer({}, new Jar(), worker);
    const before = { ...counted.ops };
    const path = `/callback?code=${done.code}&state=${done.state}`;
    expect((await worker(path, { headers: { cookie: done.jar.header() } })).status).toBe(200);
    expect((await worker(path)).status).toBe(403);
    expect(counted.ops).toEqual(before);
  });
});
