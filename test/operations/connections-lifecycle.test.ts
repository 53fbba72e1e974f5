import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { customerIndexKey } from "../../src/storage/keys";
import { expectError, expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { rawRecord, seedConnection } from "../support/fixtures";
import { API_KEY, api } from "../support/http";
import { TEST_VARS, WORKER_ORIGIN } from "../support/secrets";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("POST /api/connections/:connection_id/introspect", () => {
  it("asks Finch with the stored token and stores the status and facts it reports", async () => {
    const { connectionId, accessToken, record } = await seedConnection();
    finch().mock.setConnectionStatus(connectionId, "error_permissions");
    const res = await api(`/api/connections/${connectionId}/introspect`, { method: "POST" });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ connection_id: connectionId, status: "error_permissions", customer_id: "acme" });
    expect(body.status_message).toContain("permissions");

    const [sent] = finch().calls("GET /introspect");
    expect(finch().sent).toHaveLength(1);
    expect(sent?.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(sent?.headers.get("finch-api-version")).toBe("2020-09-17");

    const stored = await rawRecord(connectionId);
    expect(stored?.status).toBe("error_permissions");
    expect(stored?.status_at).toBe(body.status_at);
    expect(Date.parse(stored?.status_at ?? "")).toBeGreaterThanOrEqual(Date.parse(record.status_at));
    expect(stored?.token).toEqual(record.token);
    const meta = await env.CONNECTIONS.getWithMetadata(`conn:${connectionId}`);
    expect(meta.metadata).toMatchObject({ st: "error_permissions" });
  });

  it("marks the connection reauth when Finch says reauthenticate_user, and answers the error", async () => {
    const { connectionId } = await seedConnection();
    finch().mock.failNext(
      { method: "GET", path: "/introspect" },
      { status: 401, name: "authentication_error", finch_code: "reauthenticate_user" },
    );
    const res = await api(`/api/connections/${connectionId}/introspect`, { method: "POST" });
    await expectError(res, 409, "finch_reauthenticate");
    expect((await rawRecord(connectionId))?.status).toBe("reauth");
  });

  it("keeps the record unchanged when Finch fails", async () => {
    const { connectionId, record } = await seedConnection();
    finch().override("GET /introspect", () => json(500, { code: 500, name: "server_error", message: "boom" }));
    const res = await api(`/api/connections/${connectionId}/introspect`, { method: "POST" });
    await expectError(res, 502, "finch_unavailable");
    await expectNoSecrets(res);
    expect(await rawRecord(connectionId)).toEqual(record);
  });

  it("answers 404 without calling Finch for an unknown connection", async () => {
    const res = await api("/api/connections/22222222-2222-4222-8222-222222222222/introspect", { method: "POST" });
    await expectError(res, 404, "connection_not_found");
    expect(finch().sent).toEqual([]);
  });
});

describe("DELETE /api/connections/:connection_id", () => {
  async function indexKey(s: Awaited<ReturnType<typeof seedConnection>>) {
    return customerIndexKey(s.record.customer_id, s.record.created_at, s.connectionId);
  }

  it("disconnects at Finch, then removes the record and its index entry", async () => {
    const seeded = await seedConnection();
    const { connectionId, accessToken } = seeded;
    const res = await api(`/api/connections/${connectionId}`, { method: "DELETE" });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res);
    expect(await res.json()).toEqual({ connection_id: connectionId, disconnected: true, finch: "disconnected" });
    const [sent] = finch().calls("POST /disconnect");
    expect(sent?.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(finch().mock.connections.get(connectionId)?.disconnected).toBe(true);
    expect(await rawRecord(connectionId)).toBeNull();
    expect(await env.CONNECTIONS.get(await indexKey(seeded))).toBeNull();

    // Idempotent from the caller's view: the same stable 404 every time, no Finch call.
    for (let i = 0; i < 2; i++) {
      await expectError(
        await api(`/api/connections/${connectionId}`, { method: "DELETE" }),
        404,
        "connection_not_found",
      );
    }
    expect(finch().calls("POST /disconnect")).toHaveLength(1);
  });

  it("still forgets the connection when Finch says the token is already invalid", async () => {
    const seeded = await seedConnection();
    finch().mock.failNext({ path: "/disconnect" }, { status: 401, name: "authentication_error" });
    const res = await api(`/api/connections/${seeded.connectionId}`, { method: "DELETE" });
    expect(await res.json()).toEqual({
      connection_id: seeded.connectionId,
      disconnected: true,
      finch: "already_invalid",
    });
    expect(await rawRecord(seeded.connectionId)).toBeNull();
    expect(await env.CONNECTIONS.get(await indexKey(seeded))).toBeNull();
  });

  it("keeps the record when Finch errors, so nothing stays billed at Finch unknown to us", async () => {
    const seeded = await seedConnection();
    finch().override("POST /disconnect", () => json(503, { code: 503, name: "server_error", message: "down" }));
    const res = await api(`/api/connections/${seeded.connectionId}`, { method: "DELETE" });
    await expectError(res, 502, "finch_unavailable");
    await expectNoSecrets(res);
    expect(await rawRecord(seeded.connectionId)).toEqual(seeded.record);
    expect(await env.CONNECTIONS.get(await indexKey(seeded))).toBe(seeded.connectionId);
    // Retried once (503 is safe to repeat for /disconnect) before giving up.
    expect(finch().calls("POST /disconnect").length).toBe(2);
  });

  it("keeps the record when Finch cannot be reached", async () => {
    const seeded = await seedConnection();
    finch().override("POST /disconnect", () => {
      throw new TypeError("connection refused");
    });
    const res = await api(`/api/connections/${seeded.connectionId}`, { method: "DELETE" });
    await expectError(res, 502, "finch_unavailable");
    expect(await rawRecord(seeded.connectionId)).toEqual(seeded.record);
  });

  it("keeps the record when Finch does not answer in time", async () => {
    const seeded = await seedConnection();
    finch().override(
      "POST /disconnect",
      (req) => new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason))),
    );
    const custom = { ...env, FINCH_TIMEOUT_MS: "100" } as Env;
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`${WORKER_ORIGIN}/api/connections/${seeded.connectionId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${API_KEY}` },
      }),
      custom,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    await expectError(res, 504, "finch_timeout");
    expect(await rawRecord(seeded.connectionId)).toEqual(seeded.record);
    expect(TEST_VARS.FINCH_TIMEOUT_MS).not.toBe("100");
  });

  it("refuses a malformed id before any storage or Finch access", async () => {
    await expectError(await api("/api/connections/bad%2Fid", { method: "DELETE" }), 400, "param_invalid");
    expect(finch().sent).toEqual([]);
  });
});
