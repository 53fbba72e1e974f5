import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DecryptError } from "../../src/crypto/keyring";
import { AppError } from "../../src/errors";
import { sha256Hex } from "../../src/lib/encoding";
import { customerPrefix } from "../../src/storage/keys";
import { finch } from "../support/finch";
import {
  clearKv,
  fullRing,
  kvEntries,
  retiredRing,
  ringOf,
  seedConnection,
  storedRecord,
  testStore,
} from "../support/fixtures";
import { connectCustomer } from "../support/flow";

/**
 * What a successful connect leaves in KV: the token sealed with AES-256-GCM under the
 * active key, bound to its KV key; the customer index entry; listing metadata.
 */
beforeEach(clearKv);

async function connected(claims = {}) {
  const flow = await connectCustomer(claims);
  expect(flow.res.status, await flow.res.clone().text()).toBe(200);
  const [connection] = [...finch().mock.connections.values()];
  return { ...flow, id: connection?.connectionId ?? "", token: connection?.accessToken ?? "" };
}

const expectUnreadable = (p: Promise<unknown>) =>
  expect(p).rejects.toSatisfy((e) => e instanceof AppError && e.code === "record_unreadable");

describe("a stored connection", () => {
  it("is two keys: the record and the customer index entry", async () => {
    const { id } = await connected();
    const names = (await kvEntries()).map((e) => e.name);
    const prefix = await customerPrefix("acme");
    expect(prefix).toBe(`cust:${(await sha256Hex("acme")).slice(0, 32)}:`);
    expect(names).toEqual([`conn:${id}`, expect.stringMatching(new RegExp(`^${prefix}\\d{13}:${id}$`))]);
    const index = (await kvEntries()).find((e) => e.name.startsWith("cust:"));
    expect(index?.value).toBe(id);
  });

  it("holds ciphertext only: the token is in no key, value or metadata", async () => {
    const { token } = await connected();
    expect(token.length).toBeGreaterThan(20);
    for (const entry of await kvEntries()) {
      expect(`${entry.name}\n${entry.value}\n${JSON.stringify(entry.metadata)}`).not.toContain(token);
    }
  });

  it("is sealed with the active key (k2), a 96-bit IV, and decrypts with the ring", async () => {
    const { id, token } = await connected();
    const record = await storedRecord(id);
    expect(Object.keys(record.token).sort()).toEqual(["ct", "iv", "kid"]);
    expect(record.token.kid).toBe("k2");
    expect(record.token.iv).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(await fullRing().open(record.token, `conn:${id}`)).toBe(token);
    expect(await testStore().token(await testStore().require(id))).toBe(token);
  });

  it("is bound to its KV key: the sealed token fails to open under another key", async () => {
    const { id } = await connected();
    const record = await storedRecord(id);
    await expect(fullRing().open(record.token, "conn:someone-else")).rejects.toBeInstanceOf(DecryptError);

    // The whole value copied under another connection's key is unreadable there.
    const otherId = "0b0b0b0b-1111-4222-8333-444455556666";
    await env.CONNECTIONS.put(`conn:${otherId}`, JSON.stringify({ ...record, connection_id: otherId }));
    await expectUnreadable(testStore().token(await testStore().require(otherId)));
  });

  it("keeps the non-secret facts", async () => {
    const { id } = await connected({ email: "hr@acme.example" });
    const record = await storedRecord(id);
    const mock = finch().mock.connections.get(id);
    expect(record).toMatchObject({
      v: 1,
      connection_id: id,
      customer_id: "acme",
      customer_name: "Acme Inc",
      customer_email: "hr@acme.example",
      provider_id: "gusto",
      products: ["company", "directory"],
      client_type: "sandbox",
      connection_type: "provider",
      company_id: mock?.companyId,
      account_id: mock?.accountId,
      status: "connected",
    });
    expect(record.created_at).toBe(record.updated_at);
    expect(Date.parse(record.created_at)).not.toBeNaN();
  });

  it("keeps what a listing needs in metadata, under 1 KiB", async () => {
    const { id } = await connected();
    const { metadata } = await env.CONNECTIONS.getWithMetadata(`conn:${id}`);
    const record = await storedRecord(id);
    expect(metadata).toEqual({
      cid: "acme",
      cn: "Acme Inc",
      pid: "gusto",
      st: "connected",
      sa: record.status_at,
      ca: record.created_at,
      ua: record.updated_at,
      rd: { ls: null, li: null, ld: null, am: null, en: null, ec: null },
    });
    expect(new TextEncoder().encode(JSON.stringify(metadata)).byteLength).toBeLessThanOrEqual(1024);
  });

  it("keeps metadata under 1 KiB for the longest customer id and name, flagging what it dropped", async () => {
    const { id } = await connected({ sub: "c".repeat(255), name: "€".repeat(255) });
    const { metadata } = await env.CONNECTIONS.getWithMetadata<Record<string, unknown>>(`conn:${id}`);
    expect(new TextEncoder().encode(JSON.stringify(metadata)).byteLength).toBeLessThanOrEqual(1024);
    expect(metadata).toMatchObject({ cid: "c".repeat(255), partial: 1, st: "connected" });
    expect(metadata).not.toHaveProperty("cn");
    expect((await storedRecord(id)).customer_name).toBe("€".repeat(255));
  });

  it("lists a customer's connections newest first through the index", async () => {
    await seedConnection({
      connectionId: "aaaa-old",
      token: "t-old-0123456789",
      createdAt: "2025-01-01T00:00:00.000Z",
    });
    await seedConnection({
      connectionId: "bbbb-new",
      token: "t-new-0123456789",
      createdAt: "2025-06-01T00:00:00.000Z",
    });
    await seedConnection({
      connectionId: "cccc-mid",
      token: "t-mid-0123456789",
      createdAt: "2025-03-01T00:00:00.000Z",
    });
    await seedConnection({ connectionId: "dddd-other", token: "t-oth-0123456789", customerId: "globex" });
    const { keys } = await env.CONNECTIONS.list({ prefix: await customerPrefix("acme") });
    expect(keys.map((k) => k.name.split(":").at(-1))).toEqual(["bbbb-new", "cccc-mid", "aaaa-old"]);
  });
});

describe("key rotation", () => {
  it("reads a record written under the older key k1", async () => {
    const record = (await seedConnection({ connectionId: "k1-conn", token: "token-under-k1-0123", ring: ringOf("k1") }))
      .record;
    expect(record.token.kid).toBe("k1");
    expect(await testStore().token(await testStore().require("k1-conn"))).toBe("token-under-k1-0123");
  });

  it("writes new records under the active key only", async () => {
    const { id } = await connected();
    expect((await storedRecord(id)).token.kid).toBe(fullRing().activeKid);
    expect(fullRing().activeKid).toBe("k2");
    await expect(ringOf("k1").open((await storedRecord(id)).token, `conn:${id}`)).rejects.toThrow();
  });

  it("reports a record under a key no longer configured as record_unreadable", async () => {
    await seedConnection({ connectionId: "retired", token: "token-under-k0-0123", ring: retiredRing() });
    await expectUnreadable(testStore().token(await testStore().require("retired")));
  });
});
