import { env } from "cloudflare:workers";
import { beforeEach, expect, it } from "vitest";
import { parseRecord } from "../../src/storage/connection-store";
import { customerPrefix } from "../../src/storage/keys";
import { finch } from "../support/finch";
import { clearKv, fullRing, kvNames } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { API_KEY } from "../support/http";
import { accountUpdated, deliver, eventId, nowS, signed } from "../support/webhooks";
import { workerWith } from "../support/worker";

/**
 * Many requests at once in one isolate, as workerd serves them: nothing lost, nothing mixed up.
 * KV has no transactions or compare-and-set (docs/storage-schema.md), so what is asserted is
 * what the design promises: every record is whole and consistent, never a blend of writers.
 */
beforeEach(clearKv);
const worker = workerWith({});
const N = 100;

it(`${N} concurrent callbacks store ${N} connections, each with its own token and customer`, async () => {
  const flows = [];
  for (let i = 0; i < N; i++)
    flows.push(await startFlow({ sub: `cust-${i}`, name: `Customer ${i}` }, undefined, worker));
  const codes = flows.map((f) => finch().mock.approve(f.sessionId));

  const answers = await Promise.all(
    flows.map((f, i) =>
      worker(callbackPath({ code: codes[i]!, state: f.state }), {
        headers: { accept: "application/json", cookie: f.jar.header() },
      }),
    ),
  );
  const ids: string[] = [];
  for (const res of answers) {
    expect(res.status, await res.clone().text()).toBe(200);
    ids.push(((await res.json()) as { connection_id: string }).connection_id);
  }
  expect(new Set(ids).size).toBe(N);
  // One exchange per code, each code sent once.
  const sentCodes = finch()
    .calls("POST /auth/token")
    .map((r) => r.json().code);
  expect(sentCodes.sort()).toEqual([...codes].sort());

  const ring = fullRing();
  const tokens = new Set<string>();
  for (const [i, id] of ids.entries()) {
    const record = parseRecord((await env.CONNECTIONS.get(`conn:${id}`)) ?? "", id);
    const mock = finch().mock.connections.get(id);
    // connection <-> customer <-> token all belong together.
    expect(record.customer_id).toBe(`cust-${i}`);
    expect(mock?.customerId).toBe(`cust-${i}`);
    const token = await ring.open(record.token, `conn:${id}`);
    expect(token).toBe(mock?.accessToken);
    tokens.add(token);
    const index = await env.CONNECTIONS.list({ prefix: await customerPrefix(`cust-${i}`) });
    expect(index.keys.map((k) => k.name.split(":").at(-1))).toEqual([id]);
    expect(await env.CONNECTIONS.get(index.keys[0]!.name)).toBe(id);
  }
  expect(tokens.size).toBe(N);
  const names = await kvNames();
  expect(names.filter((n) => n.startsWith("conn:"))).toHaveLength(N);
  expect(names.filter((n) => n.startsWith("cust:"))).toHaveLength(N);
}, 60_000);

it("concurrent webhooks and proxy calls on one connection leave one consistent record", async () => {
  const { res } = await connectCustomer({}, undefined, worker, { accept: "application/json" });
  const id = ((await res.json()) as { connection_id: string }).connection_id;
  const ring = fullRing();
  const before = parseRecord((await env.CONNECTIONS.get(`conn:${id}`)) ?? "", id);
  const token = await ring.open(before.token, `conn:${id}`);

  const STATUSES = ["reauth", "connected", "error_permissions", "processing"];
  const events = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      signed(accountUpdated(id, STATUSES[i % STATUSES.length]!), { eventId: eventId(), timestamp: nowS() + 1 + i }),
    ),
  );
  const proxied = Array.from({ length: 40 }, () =>
    worker(`/api/connections/${id}/finch/employer/company`, { headers: { authorization: `Bearer ${API_KEY}` } }),
  );
  const answers = await Promise.all([...events.map((d) => deliver(d, worker)), ...proxied]);
  for (const answer of answers) expect(answer.status, await answer.clone().text()).toBe(200);

  const after = parseRecord((await env.CONNECTIONS.get(`conn:${id}`)) ?? "", id);
  // Each event was a prompt: the writer asked Finch, and what is stored is Finch's answer,
  // whatever the events said and in whatever order they landed.
  expect(after.status).toBe(finch().mock.connections.get(id)?.status);
  const introspects = finch().calls("GET /introspect").length;
  expect(introspects, "prompts in flight together share one introspect").toBeLessThan(events.length);
  expect(introspects).toBeGreaterThan(0);
  // The token and the customer's facts are untouched; every change took the next generation.
  expect(await ring.open(after.token, `conn:${id}`)).toBe(token);
  expect(after.token).toEqual(before.token);
  expect(after.token_gen).toBe(before.token_gen);
  expect(after.gen).toBeGreaterThanOrEqual(before.gen ?? 0);
  expect(after.customer_id).toBe(before.customer_id);
  expect(after.created_at).toBe(before.created_at);
  // Every proxied call carried the stored token, and nothing else was stored.
  const upstream = finch().calls("GET /employer/company");
  expect(upstream).toHaveLength(40);
  for (const r of upstream) expect(r.headers.get("authorization")).toBe(`Bearer ${token}`);
  const names = await kvNames();
  expect(names.filter((n) => !n.startsWith("cust:"))).toEqual([`conn:${id}`]);
  expect(names.filter((n) => n.startsWith("cust:"))).toHaveLength(1);
});
