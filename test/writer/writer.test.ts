import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { expectError } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, fullRing, kvNames, rememberToken, storedRecord } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { api, call } from "../support/http";
import { markSecret } from "../support/logs";
import { accountUpdated, deliver, outcome, signed } from "../support/webhooks";

/**
 * The connection's single writer, through the real Worker: races that used to lose the
 * current token, stale KV reads that heal, and tombstones. "Stale KV" is made by putting an
 * older copy of the record back, as another location's cache would still serve it.
 */
beforeEach(clearKv);

const JSON_ACCEPT = { accept: "application/json" };
const currentToken = (id: string) => finch().mock.connections.get(id)?.accessToken ?? "";
const kvToken = async (id: string) => fullRing().open((await storedRecord(id)).token, `conn:${id}`);

async function connected(): Promise<string> {
  const { res } = await connectCustomer({ sub: "acme" }, undefined, undefined, JSON_ACCEPT);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json<{ connection_id: string }>()).connection_id;
}

async function reauthenticate(id: string): Promise<void> {
  const { res } = await connectCustomer({ sub: "acme", connection_id: id }, undefined, undefined, JSON_ACCEPT);
  expect(res.status, await res.clone().text()).toBe(200);
}

/** Connects, re-authenticates, then lets KV serve the record from before the re-authentication. */
async function staleAfterReauth(): Promise<{ id: string; oldToken: string; newToken: string }> {
  const id = await connected();
  const oldToken = currentToken(id);
  const stale = await env.CONNECTIONS.getWithMetadata(`conn:${id}`, "text");
  await reauthenticate(id);
  const newToken = currentToken(id);
  expect(newToken).not.toBe(oldToken);
  await env.CONNECTIONS.put(`conn:${id}`, stale.value ?? "", { metadata: stale.metadata });
  return { id, oldToken, newToken };
}

/** A data endpoint the mock lacks, answering as Finch does: 401 unless the token is current. */
function individualEndpoint(id: string): void {
  finch().override("POST /employer/individual", async (req) =>
    req.headers.get("authorization") === `Bearer ${currentToken(id)}`
      ? Response.json({ responses: [], echoed: await req.text() })
      : Response.json({ code: 401, name: "authentication_error", message: "revoked" }, { status: 401 }),
  );
}

/**
 * A connection, disconnected; Finch's token exchange then hands out a fresh token for the same
 * connection id (the next Connect flow for it revives the tombstone).
 */
async function disconnectedWithFreshToken(): Promise<{ id: string; token: string }> {
  const id = await connected();
  expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
  const token = `fresh_${crypto.randomUUID()}`;
  markSecret("an access token", token);
  rememberToken(token);
  finch().override("POST /auth/token", () =>
    Response.json({
      access_token: token,
      token_type: "bearer",
      connection_id: id,
      customer_id: "acme",
      customer_name: "Acme Inc",
      products: ["company"],
      provider_id: "gusto",
    }),
  );
  return { id, token };
}

function logNotes(): () => string[] {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  return () => lines.flatMap((l) => (JSON.parse(l) as { notes?: string[] }).notes ?? []);
}

describe("the review's race at one location", () => {
  it("an introspect in flight while the employer re-authenticates cannot put the old token back", async () => {
    const id = await connected();
    const oldToken = currentToken(id);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // Finch answers the introspect at once, but the answer is slow to arrive.
    finch().override("GET /introspect", async (req, n) => {
      const answer = await finch().mock.fetch(req);
      if (n === 1) await gate;
      return answer;
    });
    const inflight = api(`/api/connections/${id}/introspect`, { method: "POST" });
    await vi.waitFor(() => expect(finch().calls("GET /introspect")).toHaveLength(1));
    expect(finch().calls("GET /introspect")[0]?.headers.get("authorization")).toBe(`Bearer ${oldToken}`);

    await reauthenticate(id);
    release();
    const res = await inflight;
    expect(res.status, await res.clone().text()).toBe(200);

    expect(await kvToken(id)).toBe(currentToken(id));
    expect(await kvToken(id)).not.toBe(oldToken);
    const proxied = await api(`/api/connections/${id}/finch/employer/company`);
    expect(proxied.status).toBe(200);
    expect(finch().calls("GET /employer/company")).toHaveLength(1);
  });
});

describe("re-authentications that finish out of order", () => {
  it("a token Finch has already replaced never overwrites the newer one", async () => {
    const id = await connected();
    const before = currentToken(id);
    const first = await startFlow({ sub: "acme", connection_id: id });
    const second = await startFlow({ sub: "acme", connection_id: id });
    const firstCode = finch().mock.approve(first.sessionId);
    const secondCode = finch().mock.approve(second.sessionId);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // Finch answers the first exchange at once (its token issued), but the answer is slow to arrive.
    let firstIssued = false;
    finch().override("POST /auth/token", async (req) => {
      const first = !firstIssued;
      firstIssued = true;
      const answer = await finch().mock.fetch(req);
      if (first) await gate;
      return answer;
    });
    const callback = (flow: typeof first, code: string) =>
      call(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie: flow.jar.header() } });
    const late = callback(first, firstCode);
    await vi.waitFor(() => expect(finch().mock.connections.get(id)?.accessToken).not.toBe(before));
    expect((await callback(second, secondCode)).status).toBe(200);
    const newest = currentToken(id);
    expect(await kvToken(id)).toBe(newest);

    release();
    // The employer finished Connect: the callback succeeds, and the newer token stays.
    expect((await late).status).toBe(200);
    expect(await kvToken(id)).toBe(newest);
    expect((await api(`/api/connections/${id}/token`, { method: "POST" })).status).toBe(200);
    expect(finch().calls("GET /introspect").length).toBeGreaterThan(0);
  });
});

describe("stale KV reads heal", () => {
  it("a proxied call made with the replaced token is retried once with the writer's token", async () => {
    const { id, oldToken, newToken } = await staleAfterReauth();
    const notes = logNotes();
    const res = await api(`/api/connections/${id}/finch/employer/company`);
    expect(res.status, await res.clone().text()).toBe(200);
    const sent = finch().calls("GET /employer/company");
    expect(sent.map((r) => r.headers.get("authorization"))).toEqual([`Bearer ${oldToken}`, `Bearer ${newToken}`]);
    expect(notes()).toContain("retried once with the writer's newer token");
    // The heal reads; it writes nothing (KV still holds what the other location's cache held).
    expect(await kvToken(id)).toBe(oldToken);
  });

  it("a POST with a declared length is sent again with the same body", async () => {
    const { id, newToken } = await staleAfterReauth();
    individualEndpoint(id);
    const payload = JSON.stringify({ requests: [{ individual_id: "a" }] });
    const res = await api(`/api/connections/${id}/finch/employer/individual`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(payload.length) },
      body: payload,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const sent = finch().calls("POST /employer/individual");
    expect(sent).toHaveLength(2);
    expect(sent[1]?.body).toBe(payload);
    expect(sent[1]?.headers.get("authorization")).toBe(`Bearer ${newToken}`);
  });

  it("a streamed body of unknown length is not sent twice: Finch's 401 passes through", async () => {
    const { id } = await staleAfterReauth();
    individualEndpoint(id);
    const notes = logNotes();
    const chunks = [new TextEncoder().encode('{"requests":'), new TextEncoder().encode("[]}")];
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const res = await api(`/api/connections/${id}/finch/employer/individual`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(401);
    expect(finch().calls("POST /employer/individual")).toHaveLength(1);
    expect(notes()).toContain("newer token not tried: the body was streamed");
  });

  it("a connection this location's KV does not know yet is served with the writer's token", async () => {
    const id = await connected();
    // Another location, where KV still caches "no such key" from before the callback.
    const stale = await env.CONNECTIONS.getWithMetadata(`conn:${id}`, "text");
    await env.CONNECTIONS.delete(`conn:${id}`);
    const notes = logNotes();
    const res = await api(`/api/connections/${id}/finch/employer/company`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(finch().calls("GET /employer/company")[0]?.headers.get("authorization")).toBe(`Bearer ${currentToken(id)}`);
    expect(notes()).toContain("not in KV here yet: token from the writer");
    // Reading heals nothing in KV: the writer wrote it once, the cache expires on its own.
    expect(await env.CONNECTIONS.get(`conn:${id}`)).toBeNull();
    await env.CONNECTIONS.put(`conn:${id}`, stale.value ?? "", { metadata: stale.metadata });
    // A connection nobody has is still 404.
    await expectError(
      await api("/api/connections/4f1c8a7e-0000-4000-8000-00000000beef/finch/employer/company"),
      404,
      "connection_not_found",
    );
  });

  it("the token endpoint answers from the writer, never the replaced token KV still serves", async () => {
    const { id, newToken } = await staleAfterReauth();
    const res = await api(`/api/connections/${id}/token`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await res.json<{ access_token: string }>()).access_token).toBe(newToken);
  });
});

describe("tombstones", () => {
  it("after a disconnect, late webhooks, introspects, tokens and stale reads do not bring it back", async () => {
    const id = await connected();
    const stale = await env.CONNECTIONS.getWithMetadata(`conn:${id}`, "text");
    const res = await api(`/api/connections/${id}`, { method: "DELETE" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await kvNames()).toEqual([]);

    expect(await outcome(deliver(await signed(accountUpdated(id, "connected"))))).toBe("unknown_connection");
    await expectError(await api(`/api/connections/${id}/introspect`, { method: "POST" }), 404, "connection_not_found");
    await expectError(await api(`/api/connections/${id}/token`, { method: "POST" }), 404, "connection_not_found");
    // Another location's cache still serves the record: Finch refuses its token, the writer
    // has nothing newer, and nothing is written back.
    await env.CONNECTIONS.put(`conn:${id}`, stale.value ?? "", { metadata: stale.metadata });
    expect((await api(`/api/connections/${id}/finch/employer/company`)).status).toBe(401);
    await env.CONNECTIONS.delete(`conn:${id}`);
    expect((await api("/api/admin/reencrypt", { method: "POST" })).status).toBe(200);
    expect(await kvNames()).toEqual([]);
    expect(finch().calls("GET /introspect")).toHaveLength(0);
  });

  it("a fresh connect through Connect brings the same connection id back", async () => {
    const { id, token } = await disconnectedWithFreshToken();
    // The writer asks Finch whether a token that replaces a tombstone is still accepted.
    finch().override("GET /introspect", (req) =>
      req.headers.get("authorization") === `Bearer ${token}`
        ? Response.json({ connection_id: id, connection_status: { status: "connected" } })
        : Response.json({ code: 401, name: "authentication_error", message: "no" }, { status: 401 }),
    );
    await connected();
    expect(finch().calls("GET /introspect")).toHaveLength(1);
    const record = await storedRecord(id);
    expect(record.status).toBe("connected");
    // Generations continue past the tombstone: connect (1), disconnect (2), connect (3).
    expect(record.gen).toBe(3);
    expect(await kvToken(id)).toBe(token);
    expect((await kvNames()).filter((k) => k.startsWith("cust:"))).toHaveLength(1);
  });

  // Found by test/sim/consistency.test.ts (seed 1752166168): the webhook saw the tombstone,
  // was answered unknown_connection, and the revival then stored "connected" from an answer
  // Finch gave before the change.
  it("a status change announced while a revival asks Finch is stored once the revival commits", async () => {
    const { id } = await disconnectedWithFreshToken();
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // The revival's check: Finch answers "connected", but the answer is slow to arrive; by the
    // time anyone asks again, Finch has moved the connection to "processing".
    finch().override("GET /introspect", async (_req, n) => {
      if (n > 1) return Response.json({ connection_id: id, connection_status: { status: "processing" } });
      await gate;
      return Response.json({ connection_id: id, connection_status: { status: "connected" } });
    });
    const revival = connected();
    await vi.waitFor(() => expect(finch().calls("GET /introspect")).toHaveLength(1));
    const webhook = outcome(deliver(await signed(accountUpdated(id, "processing"))));
    // It waits for the writer the revival holds (before the fix it answered at once).
    const early = await Promise.race([webhook, new Promise((r) => setTimeout(() => r("waiting"), 200))]);
    expect(early).toBe("waiting");
    release();
    await revival;
    expect(await webhook).toBe("applied");
    expect((await storedRecord(id)).status).toBe("processing");
    expect(finch().calls("GET /introspect")).toHaveLength(2);
  });
});
