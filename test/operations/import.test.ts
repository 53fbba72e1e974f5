import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, kvEntries, kvNames, rawRecord, rememberToken, seedConnection, testStore } from "../support/fixtures";
import { api } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";

/**
 * Issue 13: POST /api/connections/import brings in a Finch token the app already holds. Finch
 * is asked first (introspect); the connection's writer stores it exactly as a connect would;
 * the same token imported twice is stored once; nothing foreign or refused is stored.
 */
beforeEach(clearKv);

const importToken = (body: unknown) =>
  api("/api/connections/import", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** A connection that exists at Finch (the mock) but not in this Worker. */
function atFinch(customerId = "acme", customerName = "Acme Inc") {
  const seeded = finch().mock.seedConnection({ customerId, customerName });
  rememberToken(seeded.accessToken);
  return seeded;
}

describe("POST /api/connections/import", () => {
  it("stores a token Finch accepts: 201, encrypted, indexed, listed for its customer", async () => {
    const { accessToken, connectionId } = atFinch();
    const res = await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" });
    expect(res.status, await res.clone().text()).toBe(201);
    await expectNoSecrets(res);
    const body = (await res.json()) as { connection_id: string; imported: boolean; connection: { status: string } };
    expect(body).toMatchObject({ connection_id: connectionId, imported: true, connection: { status: "connected" } });
    expect(finch().calls("GET /introspect")).toHaveLength(1);
    const record = await rawRecord(connectionId);
    expect(record?.customer_id).toBe("acme");
    expect(JSON.stringify(record)).not.toContain(accessToken);
    expect(await testStore().token(record as never)).toBe(accessToken);
    expect((await kvNames()).filter((k) => k.startsWith("cust:"))).toHaveLength(1);
    const listed = (await (await api("/api/connections?customer_id=acme")).json()) as { connections: unknown[] };
    expect(listed.connections).toHaveLength(1);
  });

  it("is idempotent: the same token again answers 200 imported:false and writes nothing", async () => {
    const { accessToken, connectionId } = atFinch();
    const body = { access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" };
    expect((await importToken(body)).status).toBe(201);
    const before = await kvEntries();
    const again = await importToken(body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ connection_id: connectionId, imported: false });
    expect(await kvEntries()).toEqual(before);
  });

  it("never replaces the token of a connection already stored (a re-authenticated one keeps its newest)", async () => {
    const { connectionId, accessToken } = await seedConnection();
    const before = await kvEntries();
    // Finch still accepts the stored token; an import of it (or of an older copy) changes nothing.
    const res = await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" });
    expect(res.status).toBe(200);
    expect(await kvEntries()).toEqual(before);
    expect(((await res.json()) as { connection_id: string }).connection_id).toBe(connectionId);
  });

  it("refuses a token Finch does not accept: 422 token_rejected, nothing stored", async () => {
    const res = await importToken({ access_token: "not-a-finch-token", customer_id: "acme", customer_name: "Acme" });
    await expectError(res, 422, "token_rejected");
    expect(await kvNames()).toEqual([]);
  });

  it("refuses a token Finch issued for another customer: 403 customer_mismatch, a security event", async () => {
    const { accessToken } = atFinch("globex", "Globex");
    const mark = logLines().length;
    const res = await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme" });
    await expectError(res, 403, "customer_mismatch");
    expect(await kvNames()).toEqual([]);
    const line = jsonLogLinesSince(mark).find((l) => l.msg === "request");
    expect(line?.security_event).toBe("customer_mismatch");
  });

  it("refuses a connection already stored under another customer, even when Finch names none", async () => {
    const { accessToken, connectionId } = await seedConnection({ customerId: "globex", customerName: "Globex" });
    finch().override("GET /introspect", async (req) => {
      const res = await finch().mock.fetch(req);
      const facts = (await res.json()) as Record<string, unknown>;
      return Response.json({ ...facts, customer_id: null });
    });
    const before = await kvEntries();
    const res = await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme" });
    await expectError(res, 403, "customer_mismatch");
    expect(await kvEntries()).toEqual(before);
    expect((await rawRecord(connectionId))?.customer_id).toBe("globex");
  });

  it("does not bring back a connection disconnected here", async () => {
    const { accessToken } = atFinch();
    expect(
      (await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" })).status,
    ).toBe(201);
    const id = [...finch().mock.connections.keys()][0] as string;
    // Disconnected here while Finch (in this test) still answers introspect for the token.
    finch().override("POST /disconnect", () => Response.json({ status: "success" }));
    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    const res = await importToken({ access_token: accessToken, customer_id: "acme", customer_name: "Acme Inc" });
    await expectError(res, 409, "connection_disconnected");
    expect(await rawRecord(id)).toBeNull();
  });

  it.each([
    [{}, "access_token"],
    [{ access_token: "t", customer_id: "", customer_name: "A" }, "customer_id"],
    [{ access_token: "t", customer_id: "a", customer_name: "A", customer_email: "nope" }, "customer_email"],
    [{ access_token: 42, customer_id: "a", customer_name: "A" }, "access_token"],
  ])("refuses a malformed body %o: 400 body_invalid naming %s, no Finch call", async (body, field) => {
    const res = await importToken(body);
    const error = await expectError(res, 400, "body_invalid");
    expect(error.error.message).toContain(field);
    expect(finch().sent).toEqual([]);
  });

  // Issue 17: Finch tokens are printable ASCII without spaces. Anything else used to reach the
  // Bearer header and fail there as a 500, which `npm run import` retried on every run.
  it.each([
    ["CR LF", "sek\r\nrit"],
    ["LF", "sek\nrit"],
    ["CR", "sek\rrit"],
    ["NUL", "sek\u0000rit"],
    ["a space", "sek rit"],
    ["a tab", "sek\trit"],
    ["DEL (0x7F)", "sek\u007frit"],
    ["non-ASCII", "sek\u00f6rit"],
    ["a no-break space", "sek\u00a0rit"],
  ])(
    "refuses an access_token with %s: 400 param_invalid naming the field, no Finch call, nothing stored",
    async (_, token) => {
      const res = await importToken({ access_token: token, customer_id: "acme", customer_name: "Acme Inc" });
      const error = await expectError(res, 400, "param_invalid");
      expect(error.error.message).toContain("access_token");
      expect(JSON.stringify(error)).not.toContain("sek");
      expect(finch().sent).toEqual([]);
      expect(await kvNames()).toEqual([]);
    },
  );

  it("passes a token of printable ASCII at both ends of the range (0x21, 0x7E) on to Finch unchanged", async () => {
    const every = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
    for (const token of ["!", "~", every]) {
      const res = await importToken({ access_token: token, customer_id: "acme", customer_name: "Acme" });
      await expectError(res, 422, "token_rejected");
      expect(finch().calls("GET /introspect").at(-1)?.headers.get("authorization")).toBe(`Bearer ${token}`);
    }
    expect(await kvNames()).toEqual([]);
  });

  it("needs an API key, and only POST", async () => {
    const { accessToken } = atFinch();
    const res = await api(
      "/api/connections/import",
      { method: "POST", body: JSON.stringify({ access_token: accessToken }) },
      "Bearer wrong_key_0123456789abcdefghij",
    );
    await expectError(res, 401, "unauthorized");
    await expectError(await api("/api/connections/import"), 405, "method_not_allowed");
    expect(finch().sent).toEqual([]);
  });
});
