import { beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/encoding";
import { allPagesOf, expectError, expectNoSecrets } from "../support/assert";
import { webhookEnv } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, kvEntries, rawRecord, rememberToken, seedConnection } from "../support/fixtures";
import { API_KEY, api } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { SCOPED, SCOPED_API_KEYS, SCOPED_NAMES, scopedWorker } from "../support/scoped-keys";
import { workerWith } from "../support/worker";

/**
 * Least privilege over HTTP (issue 19): API_KEYS as a JSON array of named keys, each limited to
 * scopes and to customers. A missing scope is 403 scope_missing naming it; another customer's
 * connection does not exist for the key (404); nothing is called or changed by a refusal.
 */
const as = scopedWorker();
const json = { "content-type": "application/json" };

interface Page {
  connections: { connection_id: string; customer_id: string }[];
  cursor: string | null;
}

async function expectScopeMissing(res: Response, scope: string) {
  const body = await expectError(res, 403, "scope_missing");
  expect(body.error.message).toBe(`This API key does not have the scope this operation needs. Scope: ${scope}.`);
}

beforeEach(clearKv);

describe("a key limited to connections:read", () => {
  it("reads connections and their listing", async () => {
    const { connectionId } = await seedConnection();
    const one = await as("reader")(`/api/connections/${connectionId}`);
    expect(one.status, await one.clone().text()).toBe(200);
    const list = await as("reader")("/api/connections");
    expect(((await list.json()) as Page).connections.map((c) => c.connection_id)).toEqual([connectionId]);
  });

  it("gets 403 scope_missing from the token endpoint and DELETE: no Finch call, nothing changed", async () => {
    const { connectionId, record, accessToken } = await seedConnection();
    const token = await as("reader")(`/api/connections/${connectionId}/token`, { method: "POST" });
    await expectScopeMissing(token, "token");
    await expectNoSecrets(token);
    expect(await token.clone().text()).not.toContain(accessToken);
    await expectScopeMissing(
      await as("reader")(`/api/connections/${connectionId}`, { method: "DELETE" }),
      "connections:write",
    );
    expect(finch().sent).toEqual([]);
    expect(await rawRecord(connectionId)).toEqual(record);
  });

  it("is refused by every other route, each naming the scope it needs", async () => {
    const { connectionId, accessToken } = await seedConnection();
    rememberToken(accessToken);
    const before = await kvEntries();
    const base = `/api/connections/${connectionId}`;
    const body = JSON.stringify({ access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" });
    const cases: [string, RequestInit, string][] = [
      [`${base}/introspect`, { method: "POST" }, "connections:write"],
      [`${base}/finch/employer/company`, {}, "proxy"],
      ["/api/connections/import", { method: "POST", headers: json, body }, "connections:write"],
      ["/api/admin/reencrypt", { method: "POST" }, "admin"],
      ["/api/events/redeliver", { method: "POST" }, "events"],
    ];
    for (const [path, init, scope] of cases) await expectScopeMissing(await as("reader")(path, init), scope);
    const redeliver = scopedWorker(webhookEnv())("reader");
    await expectScopeMissing(await redeliver("/api/events/redeliver", { method: "POST" }), "events");
    expect(finch().sent).toEqual([]);
    expect(await kvEntries()).toEqual(before);
  });

  it("is refused before its input is looked at: a malformed id is still scope_missing", async () => {
    await expectScopeMissing(await as("reader")("/api/connections/-bad/token", { method: "POST" }), "token");
  });
});

describe("a key limited to customer acme", () => {
  it("gets 404 connection_not_found for another customer's connection, on every route", async () => {
    const other = await seedConnection({ customerId: "globex", customerName: "Globex" });
    const base = `/api/connections/${other.connectionId}`;
    for (const [path, init] of [
      [base, {}],
      [`${base}/token`, { method: "POST" }],
      [`${base}/introspect`, { method: "POST" }],
      [base, { method: "DELETE" }],
      [`${base}/finch/employer/company`, {}],
    ] as const) {
      const res = await as("acme")(path, init);
      await expectError(res, 404, "connection_not_found");
      expect(await res.clone().text()).not.toContain("globex");
    }
    expect(finch().sent).toEqual([]);
    expect(await rawRecord(other.connectionId)).toEqual(other.record);
  });

  it("answers an unknown connection exactly as another customer's", async () => {
    const other = await seedConnection({ customerId: "globex" });
    const a = await expectError(
      await as("acme")(`/api/connections/${other.connectionId}`),
      404,
      "connection_not_found",
    );
    const b = await expectError(await as("acme")("/api/connections/no-such-connection"), 404, "connection_not_found");
    expect(a.error.message).toBe(b.error.message);
  });

  it("uses its own connections: facts, token, introspect, proxy and disconnect", async () => {
    const own = await seedConnection({ customerId: "acme" });
    const base = `/api/connections/${own.connectionId}`;
    expect((await as("acme")(base)).status).toBe(200);
    const token = await as("acme")(`${base}/token`, { method: "POST" });
    expect(await token.json()).toEqual({ access_token: own.accessToken });
    expect((await as("acme")(`${base}/introspect`, { method: "POST" })).status).toBe(200);
    const proxied = await as("acme")(`${base}/finch/employer/company`);
    expect(proxied.status).toBe(200);
    expect(finch().calls("GET /employer/company")[0]?.headers.get("authorization")).toBe(`Bearer ${own.accessToken}`);
    expect((await as("acme")(base, { method: "DELETE" })).status).toBe(200);
    expect(await rawRecord(own.connectionId)).toBeNull();
  });

  it("sees only acme in the listing; another customer's listing is an empty page", async () => {
    const mine = [await seedConnection({ customerId: "acme" }), await seedConnection({ customerId: "acme" })];
    await seedConnection({ customerId: "globex" });
    const res = await as("acme")("/api/connections");
    const page = (await res.json()) as Page;
    expect(page.connections.map((c) => c.customer_id)).toEqual(["acme", "acme"]);
    expect(page.connections.map((c) => c.connection_id).sort()).toEqual(mine.map((m) => m.connectionId).sort());
    const other = await as("acme")("/api/connections?customer_id=globex");
    expect(await other.json()).toEqual({ connections: [], cursor: null });
    const own = (await (await as("acme")("/api/connections?customer_id=acme")).json()) as Page;
    expect(own.connections).toHaveLength(2);
  });

  it("imports only for acme: another customer is 403 customer_not_allowed before Finch is asked", async () => {
    const seeded = finch().mock.seedConnection({ customerId: "globex", customerName: "Globex" });
    rememberToken(seeded.accessToken);
    const body = { access_token: seeded.accessToken, customer_id: "globex", customer_name: "Globex" };
    const res = await as("acme")("/api/connections/import", {
      method: "POST",
      headers: json,
      body: JSON.stringify(body),
    });
    await expectError(res, 403, "customer_not_allowed");
    expect(finch().sent).toEqual([]);
    expect(await kvEntries()).toEqual([]);
    const mine = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    rememberToken(mine.accessToken);
    const ok = { access_token: mine.accessToken, customer_id: "acme", customer_name: "Acme Inc" };
    const imported = await as("acme")("/api/connections/import", {
      method: "POST",
      headers: json,
      body: JSON.stringify(ok),
    });
    expect(imported.status, await imported.clone().text()).toBe(201);
  });

  it("has no admin or events scope (a key limited to customers cannot hold them)", async () => {
    await expectScopeMissing(await as("acme")("/api/admin/reencrypt", { method: "POST" }), "admin");
    await expectScopeMissing(await as("acme")("/api/events/redeliver", { method: "POST" }), "events");
  });
});

describe("a key limited to two customers", () => {
  it("lists both customers' connections and no one else's, across pages", async () => {
    const wanted = [
      await seedConnection({ customerId: "acme" }),
      await seedConnection({ customerId: "initech" }),
      await seedConnection({ customerId: "initech" }),
    ];
    for (let i = 0; i < 3; i++) await seedConnection({ customerId: `other-${i}` });
    const pages = await allPagesOf<Page>(
      (cursor) => as("pair")(`/api/connections?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
      (p) => p.cursor,
    );
    const listed = pages.flatMap((p) => p.connections);
    expect(listed.map((c) => c.connection_id).sort()).toEqual(wanted.map((w) => w.connectionId).sort());
    const initech = (await (await as("pair")("/api/connections?customer_id=initech")).json()) as Page;
    expect(initech.connections.map((c) => c.customer_id)).toEqual(["initech", "initech"]);
  });

  it("a cursor of an unrestricted listing does not continue the restricted one", async () => {
    for (let i = 0; i < 3; i++) await seedConnection({ customerId: "acme" });
    const first = (await (await api("/api/connections?limit=1")).json()) as Page;
    const res = await as("pair")(`/api/connections?limit=1&cursor=${encodeURIComponent(first.cursor ?? "")}`);
    await expectError(res, 400, "param_invalid");
  });
});

describe("a key without scopes or customers", () => {
  it("can do everything, as a bare key can", async () => {
    const { connectionId } = await seedConnection({ customerId: "globex" });
    expect((await as("ops")(`/api/connections/${connectionId}/token`, { method: "POST" })).status).toBe(200);
    expect((await as("ops")("/api/admin/reencrypt", { method: "POST" })).status).toBe(200);
    expect((await as("ops")("/api/connections")).status).toBe(200);
  });
});

describe("authentication and logs with named keys", () => {
  it("a wrong key gets the same 401 as with bare keys", async () => {
    const worker = workerWith({ API_KEYS: SCOPED_API_KEYS });
    const wrong = await worker("/api/connections", { headers: { authorization: `Bearer ${SCOPED.reader}x` } });
    await expectError(wrong, 401, "unauthorized");
    expect(wrong.headers.get("www-authenticate")).toBe('Bearer realm="finch-connect-edge"');
    // A bare key of the default configuration is not a key here.
    const bare = await worker("/api/connections", { headers: { authorization: `Bearer ${API_KEY}` } });
    await expectError(bare, 401, "unauthorized");
  });

  it("the request log names the key (its name, or key: and 8 hex of its SHA-256), never the key", async () => {
    const mark = logLines().length;
    await as("acme")("/api/connections");
    await api("/api/connections");
    const lines = jsonLogLinesSince(mark).filter((l) => l.msg === "request");
    expect(lines.map((l) => l.actor)).toEqual([SCOPED_NAMES.acme, `key:${(await sha256Hex(API_KEY)).slice(0, 8)}`]);
    expect(JSON.stringify(lines)).not.toContain(SCOPED.acme);
  });

  it("a refused request logs the actor and the code, not the key", async () => {
    const { connectionId } = await seedConnection();
    const mark = logLines().length;
    await as("reader")(`/api/connections/${connectionId}/token`, { method: "POST" });
    const line = jsonLogLinesSince(mark).find((l) => l.msg === "request");
    expect(line).toMatchObject({ actor: "reader", outcome: "scope_missing", status: 403 });
  });
});
