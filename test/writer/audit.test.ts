import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { EventOutbox } from "../../src/app-events/outbox-table";
import { sha256Hex } from "../../src/lib/encoding";
import { chainHash, GENESIS, MAX_AUDIT_ENTRIES, nextEntry, verifyChain } from "../../src/writer/audit";
import { sqlWriterStorage } from "../../src/writer/sql-storage";
import { expectError, expectNoSecrets, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, knownTokens, seedConnection } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { API_KEY, api } from "../support/http";
import { SCOPED_NAMES, scopedWorker } from "../support/scoped-keys";
import { accountUpdated, deliver, signed } from "../support/webhooks";
import { inWriter } from "../support/writer";

/**
 * The audit trail (issue 19): the writer records who did what to each connection in the same
 * commit as the change, as a hash chain checked on every read, kept for the last 1,000 entries
 * and through a disconnect. Token reveals are recorded by the key that asked.
 */
beforeEach(clearKv);

const as = scopedWorker();

interface Trail {
  connection_id: string;
  chain: "valid" | "broken";
  retained_from: number;
  entries: { seq: number; at: string; action: string; actor: string; request_id: string; hash: string }[];
  cursor: string | null;
}

async function trail(id: string, query = "", caller = as("ops")): Promise<Trail> {
  const res = await caller(`/api/connections/${id}/audit${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json<Trail>();
}

async function connected(customer = "acme"): Promise<string> {
  const { res } = await connectCustomer({ sub: customer }, undefined, undefined, JSON_ACCEPT);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json<{ connection_id: string }>()).connection_id;
}

describe("the audit trail", () => {
  it("records a token reveal by the named key that asked, under its request id, with a valid chain", async () => {
    const id = await connected();
    const reveal = await as("tokenOnly")(`/api/connections/${id}/token`, { method: "POST" });
    expect(reveal.status).toBe(200);
    const t = await trail(id);
    expect(t.chain).toBe("valid");
    expect(t.entries.map((e) => [e.seq, e.action, e.actor])).toEqual([
      [1, "connected", "connect"],
      [2, "token_revealed", SCOPED_NAMES.tokenOnly],
    ]);
    expect(t.entries[1]?.request_id).toBe(reveal.headers.get("x-request-id"));
    // Each hash chains the previous one: recomputed here from the definition.
    let previous = GENESIS.hash;
    for (const { hash, ...fields } of t.entries) {
      expect(hash).toBe(await sha256Hex(`${previous}\n${JSON.stringify(fields)}`));
      previous = hash;
    }
    // No token, no code, no secret in the trail.
    const res = await as("ops")(`/api/connections/${id}/audit`);
    await expectNoSecrets(res, knownTokens());
  });

  it("records a reveal through RPC getAccessToken as rpc", async () => {
    const id = await connected();
    expect(await exports.FinchConnections.getAccessToken(id)).toBe(finch().mock.connections.get(id)?.accessToken);
    expect((await trail(id)).entries.map((e) => [e.action, e.actor]).at(-1)).toEqual(["token_revealed", "rpc"]);
  });

  it("names a bare key by the first 8 hex characters of its SHA-256, never the key", async () => {
    const { connectionId } = await seedConnection();
    expect((await api(`/api/connections/${connectionId}/token`, { method: "POST" })).status).toBe(200);
    const res = await api(`/api/connections/${connectionId}/audit`);
    const body = await res.json<Trail>();
    expect(body.entries.map((e) => [e.action, e.actor])).toEqual([
      ["token_revealed", `key:${(await sha256Hex(API_KEY)).slice(0, 8)}`],
    ]);
    expect(JSON.stringify(body)).not.toContain(API_KEY);
  });

  it("records status changes by finch-webhook, introspects and disconnects by the key, and outlives the disconnect", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "reauth");
    expect((await deliver(await signed(accountUpdated(id, "reauth")))).status).toBe(200);
    finch().mock.setConnectionStatus(id, "connected");
    expect((await as("ops")(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    expect((await as("ops")(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    const t = await trail(id);
    expect(t.chain).toBe("valid");
    expect(t.entries.map((e) => [e.action, e.actor])).toEqual([
      ["connected", "connect"],
      ["status_changed", "finch-webhook"],
      ["status_changed", SCOPED_NAMES.ops],
      ["disconnected", SCOPED_NAMES.ops],
    ]);
  });

  it("pages by cursor, oldest first", async () => {
    const id = await connected();
    for (let i = 0; i < 3; i++) await as("tokenOnly")(`/api/connections/${id}/token`, { method: "POST" });
    const first = await trail(id, "?limit=2");
    expect(first.entries.map((e) => e.seq)).toEqual([1, 2]);
    const second = await trail(id, `?limit=2&cursor=${first.cursor}`);
    expect(second.entries.map((e) => e.seq)).toEqual([3, 4]);
    expect(second.cursor).toBeNull();
    await expectError(await as("ops")(`/api/connections/${id}/audit?cursor=bm9wZQ`), 400, "param_invalid");
    await expectError(await as("ops")(`/api/connections/${id}/audit?limit=201`), 400, "param_invalid");
  });

  it("answers chain broken when a stored entry was edited, or one was removed", async () => {
    const id = await connected();
    for (let i = 0; i < 2; i++) await as("tokenOnly")(`/api/connections/${id}/token`, { method: "POST" });
    expect((await trail(id)).chain).toBe("valid");
    await inWriter(id, (state) => state.storage.sql.exec("UPDATE audit SET actor = 'someone-else' WHERE seq = 2"));
    expect((await trail(id)).chain).toBe("broken");
    await inWriter(id, (state) => state.storage.sql.exec("DELETE FROM audit WHERE seq = 2"));
    expect((await trail(id)).chain).toBe("broken");
  });

  it("needs connections:read, hides another customer's connection (also once disconnected), and a never-held one is 404", async () => {
    const mine = await connected("acme");
    const theirs = await connected("globex");
    expect((await trail(mine, "", as("acme"))).entries).toHaveLength(1);
    await expectError(await as("acme")(`/api/connections/${theirs}/audit`), 404, "connection_not_found");
    expect((await as("ops")(`/api/connections/${theirs}`, { method: "DELETE" })).status).toBe(200);
    await expectError(await as("acme")(`/api/connections/${theirs}/audit`), 404, "connection_not_found");
    await expectError(await as("tokenOnly")(`/api/connections/${mine}/audit`), 403, "scope_missing");
    await expectError(await as("ops")("/api/connections/never-held/audit"), 404, "connection_not_found");
  });
});

describe("retention", () => {
  it("keeps the last 1,000 entries: at 1,000 nothing is dropped, at 1,001 the first is, and the chain still verifies", async () => {
    await inWriter("retention-probe", async (state) => {
      const storage = sqlWriterStorage(state.storage, new EventOutbox(state.storage.sql));
      const commitOne = async (n: number) => {
        const entry = await nextEntry(storage.auditLast(), {
          at: new Date(Date.UTC(2026, 11, 1, 0, 0, n)).toISOString(),
          action: "token_revealed",
          actor: "retention",
          request_id: `r-${n}`,
        });
        storage.commit({ state: { kind: "prompted", at: "2026-12-01T00:00:00.000Z" }, audit: entry });
      };
      for (let n = 1; n <= MAX_AUDIT_ENTRIES; n++) await commitOne(n);
      expect(storage.auditAnchor()).toEqual(GENESIS);
      expect(storage.auditEntries(0)).toHaveLength(MAX_AUDIT_ENTRIES);
      const first = storage.auditEntries(0, 1)[0];
      await commitOne(MAX_AUDIT_ENTRIES + 1);
      expect(storage.auditEntries(0)).toHaveLength(MAX_AUDIT_ENTRIES);
      expect(storage.auditAnchor()).toEqual({ seq: 1, hash: first?.hash });
      expect(await verifyChain(storage.auditAnchor(), storage.auditEntries(0))).toBe("valid");
      // An entry out of sequence is refused (and the whole commit with it).
      const stray = { seq: 5, at: "x", action: "resealed" as const, actor: "a", request_id: "r" };
      expect(() =>
        storage.commit({
          state: { kind: "prompted", at: "x" },
          audit: { ...stray, hash: "0".repeat(64) },
        }),
      ).toThrow(/sequence/);
      expect(await chainHash(GENESIS.hash, stray)).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});
