import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { expectError, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, rememberToken } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { markSecret } from "../support/logs";
import { scopedWorker } from "../support/scoped-keys";

/**
 * A key limited to customers, where KV at its location is stale: the connection was
 * disconnected and connected again for another customer within KV's minute, and this
 * location still serves the old record. The writer's own record decides: the token endpoint,
 * a disconnect and the proxy's heal never act on another customer's connection.
 */
beforeEach(clearKv);

const as = scopedWorker();

async function connected(customer: string): Promise<string> {
  const { res } = await connectCustomer({ sub: customer }, undefined, undefined, JSON_ACCEPT);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json<{ connection_id: string }>()).connection_id;
}

/** `id` was acme's; it is disconnected and connected again for globex; this location's KV still has acme's record. */
async function takenOverByGlobex(): Promise<{ id: string; globexToken: string }> {
  const id = await connected("acme");
  const stale = await env.CONNECTIONS.getWithMetadata(`conn:${id}`, "text");
  expect((await as("ops")(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
  const globexToken = `globex_${crypto.randomUUID()}`;
  markSecret("an access token", globexToken);
  rememberToken(globexToken);
  finch().override("POST /auth/token", () =>
    Response.json({ access_token: globexToken, connection_id: id, customer_id: "globex", customer_name: "Globex" }),
  );
  finch().override("GET /introspect", (req) =>
    req.headers.get("authorization") === `Bearer ${globexToken}`
      ? Response.json({ connection_id: id, connection_status: { status: "connected" } })
      : Response.json({ code: 401, name: "authentication_error", message: "no" }, { status: 401 }),
  );
  await connected("globex");
  await env.CONNECTIONS.put(`conn:${id}`, stale.value ?? "", { metadata: stale.metadata });
  return { id, globexToken };
}

describe("a key limited to acme, with a stale acme record in KV", () => {
  it("gets no token: the writer's record says globex", async () => {
    const { id, globexToken } = await takenOverByGlobex();
    const res = await as("acme")(`/api/connections/${id}/token`, { method: "POST" });
    await expectError(res, 404, "connection_not_found");
    expect(await res.clone().text()).not.toContain(globexToken);
  });

  it("cannot disconnect it: refused by the writer before Finch is asked", async () => {
    const { id } = await takenOverByGlobex();
    const before = finch().calls("POST /disconnect").length;
    await expectError(await as("acme")(`/api/connections/${id}`, { method: "DELETE" }), 404, "connection_not_found");
    expect(finch().calls("POST /disconnect")).toHaveLength(before);
    expect((await as("ops")(`/api/connections/${id}`)).status).toBe(200);
  });

  it("proxies with the stale token, and the heal does not retry with globex's", async () => {
    const { id, globexToken } = await takenOverByGlobex();
    finch().override("GET /employer/company", (req) =>
      req.headers.get("authorization") === `Bearer ${globexToken}`
        ? Response.json({ id: "globex-company" })
        : Response.json({ code: 401, name: "authentication_error", message: "no" }, { status: 401 }),
    );
    const res = await as("acme")(`/api/connections/${id}/finch/employer/company`);
    expect(res.status).toBe(401);
    const sent = finch()
      .calls("GET /employer/company")
      .map((r) => r.headers.get("authorization"));
    expect(sent).toHaveLength(1);
    expect(sent).not.toContain(`Bearer ${globexToken}`);
  });
});
