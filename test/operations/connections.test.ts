import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectError, expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { rawRecord, seedConnection } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { api } from "../support/http";

describe("GET /api/connections/:connection_id", () => {
  it("returns the stored facts and status, never the token or its envelope", async () => {
    const { connectionId, record } = await seedConnection({ customerId: "cust-1", customerName: "One LLC" });
    const res = await api(`/api/connections/${connectionId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    await expectNoSecrets(res);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      connection_id: connectionId,
      customer_id: "cust-1",
      customer_name: "One LLC",
      provider_id: "gusto",
      status: "connected",
      products: ["company", "directory"],
      created_at: record.created_at,
    });
    expect(Object.keys(body)).not.toContain("token");
    expect(Object.keys(body)).not.toContain("events");
    expect(finch().sent).toEqual([]);
  });

  it("serves connections stored by the real Connect flow", async () => {
    const { res: done } = await connectCustomer({ sub: "flow-customer", name: "Flow Co" });
    const id = /data-connection-id="([^"]+)"/.exec(await done.text())?.[1] ?? "";
    const res = await api(`/api/connections/${id}`);
    expect(res.status).toBe(200);
    await expectNoSecrets(res);
    expect(await res.json()).toMatchObject({ connection_id: id, customer_id: "flow-customer", status: "connected" });
  });

  it("answers 404 connection_not_found for an unknown id and 400 param_invalid for a malformed one", async () => {
    await expectError(await api("/api/connections/00000000-0000-4000-8000-000000000000"), 404, "connection_not_found");
    for (const bad of ["-starts-with-dash", "has%20space", "a".repeat(129), "semi%3Bcolon", "dot.dot"]) {
      await expectError(await api(`/api/connections/${bad}`), 400, "param_invalid");
    }
  });

  it("answers 405 with Allow for a method the path does not support", async () => {
    const { connectionId } = await seedConnection();
    const res = await api(`/api/connections/${connectionId}`, { method: "PUT", body: "{}" });
    await expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, DELETE");
    expect(await rawRecord(connectionId)).not.toBeNull();
  });
});

describe("POST /api/connections/:connection_id/token", () => {
  it("returns the decrypted token, marked no-store", async () => {
    const { connectionId, accessToken } = await seedConnection();
    const res = await api(`/api/connections/${connectionId}/token`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ access_token: accessToken });
  });

  it("accepts an empty JSON object body and refuses malformed JSON with body_invalid", async () => {
    const { connectionId } = await seedConnection();
    const path = `/api/connections/${connectionId}/token`;
    const json = { "content-type": "application/json" };
    expect((await api(path, { method: "POST", headers: json, body: "{}" })).status).toBe(200);
    for (const body of ["{", "[1,2]", "null", '"text"']) {
      const res = await api(path, { method: "POST", headers: json, body });
      await expectError(res, 400, "body_invalid");
      await expectNoSecrets(res);
    }
  });

  it("refuses bodies over 16 KiB with 413 body_too_large, declared or chunked", async () => {
    const { connectionId } = await seedConnection();
    const path = `/api/connections/${connectionId}/token`;
    const big = `{"pad":"${"x".repeat(17 * 1024)}"}`;
    const declared = await api(path, { method: "POST", body: big });
    await expectError(declared, 413, "body_too_large");
    await expectNoSecrets(declared);
    const chunks = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      return new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
          controller.close();
        },
      });
    };
    const chunked = await api(path, { method: "POST", body: chunks(big) });
    await expectError(chunked, 413, "body_too_large");
    // A chunked body under the limit is counted, then still reaches the route whole.
    const small = `[${"1,".repeat(5000)}1]`;
    await expectError(await api(path, { method: "POST", body: chunks(small) }), 400, "body_invalid");
  });

  it("answers 404 for an unknown connection and 405 for GET", async () => {
    await expectError(
      await api("/api/connections/11111111-1111-4111-8111-111111111111/token", { method: "POST" }),
      404,
      "connection_not_found",
    );
    const { connectionId } = await seedConnection();
    const res = await api(`/api/connections/${connectionId}/token`);
    await expectError(res, 405, "method_not_allowed");
    await expectNoSecrets(res);
  });

  it("reports an undecryptable record as record_unreadable without echoing it", async () => {
    const { connectionId, record } = await seedConnection();
    const tampered = { ...record, token: { ...record.token, ct: `${record.token.ct.slice(0, -4)}AAAA` } };
    await env.CONNECTIONS.put(`conn:${connectionId}`, JSON.stringify(tampered));
    const res = await api(`/api/connections/${connectionId}/token`, { method: "POST" });
    const body = await expectError(res, 500, "record_unreadable");
    expect(JSON.stringify(body)).not.toContain(record.token.ct);
  });
});

describe("unknown API routes", () => {
  it("answers 404 not_found as JSON", async () => {
    for (const path of ["/api", "/api/", "/api/connection", "/api/connections/x/y/z", "/api/admin"]) {
      await expectError(await api(path), 404, "not_found");
    }
  });

  it("matches routes exactly: a trailing slash is another path (404), and nothing is deleted or sent", async () => {
    // The URL parser turns ".../finchX/.%2e/" into ".../<id>/"; a router that forgave the slash
    // would route DELETE there to the connection itself (found by test/property-proxy.test.ts).
    const { connectionId } = await seedConnection();
    for (const [method, path] of [
      ["DELETE", `/api/connections/${connectionId}/`],
      ["GET", `/api/connections/${connectionId}/`],
      ["POST", `/api/connections/${connectionId}/token/`],
      ["POST", `/api/connections/${connectionId}/introspect/`],
      ["GET", "/api/connections/"],
      ["POST", "/api/admin/reencrypt/"],
    ] as const) {
      await expectError(await api(path, { method }), 404, "not_found");
    }
    await expectError(
      await api(`/api/connections/${connectionId}/finchX/.%2e/`, { method: "DELETE" }),
      404,
      "not_found",
    );
    expect(await rawRecord(connectionId)).not.toBeNull();
    expect(finch().sent).toEqual([]);
  });
});
