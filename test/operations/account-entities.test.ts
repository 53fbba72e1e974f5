import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { expectError, expectNoSecrets, expectStored } from "../support/assert";
import { watchQueue } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, kvNames, rawRecord, seedConnection } from "../support/fixtures";
import { connectMultiEntity as multiEntity } from "../support/flow";
import { api } from "../support/http";
import { scopedWorker } from "../support/scoped-keys";

/**
 * POST /api/connections/:id/entities/disconnect (issue 21): Finch is told, its answer stored,
 * the app told; the last entities end the connection, as Finch does.
 */
beforeEach(clearKv);

const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const disconnectPath = (id: string) => `/api/connections/${id}/entities/disconnect`;
const appEvents = () => {
  const q = watchQueue(env.APP_EVENTS as Queue<unknown>, "pass");
  return () => q.bodies() as AppEvent[];
};

describe("POST /api/connections/:id/entities/disconnect", () => {
  it("disconnects one entity at Finch, stores Finch's answer, and tells the app with connection.updated", async () => {
    const { id, entities, token } = await multiEntity();
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    const events = appEvents();
    const [keep, drop] = entities as [string, string];
    // Named twice: Finch is told once.
    const res = await api(disconnectPath(id), json({ entity_ids: [drop, drop] }));
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res);
    const body = await res.json<any>();
    expect(body).toMatchObject({ connection_id: id, entity_ids: [drop], connection_disconnected: false });
    expect(body.connection.entities.map((e: any) => [e.id, e.status])).toEqual([
      [keep, "connected"],
      [drop, "disconnected"],
    ]);
    expect(body.connection.entity_counts).toEqual({ connected: 1, disconnected: 1 });

    const [sent] = finch().calls("POST /disconnect-entity");
    expect(sent?.json()).toEqual({ entity_ids: [drop] });
    expect(sent?.headers.get("authorization")).toBe(`Bearer ${token}`);
    // Finch was asked for the result after acting.
    expect(
      finch()
        .sent.map((r) => `${r.method} ${r.path}`)
        .slice(-2),
    ).toEqual(["POST /disconnect-entity", "GET /introspect"]);
    const stored = await rawRecord(id);
    expect(stored?.entities?.map((e) => e.status)).toEqual(["connected", "disconnected"]);
    expect(stored?.entity_counts).toEqual({ connected: 1, disconnected: 1 });
    expect(events()).toMatchObject([
      {
        type: "connection.updated",
        connection_id: id,
        generation: stored?.gen,
        data: { changed: ["entities"], reason: "entity_disconnect" },
        connection: {
          status: "connected",
          entities: [
            { id: keep, status: "connected" },
            { id: drop, status: "disconnected" },
          ],
        },
      },
    ]);
    // The other entity keeps working.
    expect((await api(`/api/connections/${id}/finch/employer/company`)).status).toBe(200);
  });

  it("disconnecting the last entity ends the connection, as Finch does: disconnected here too", async () => {
    const { id, entities } = await multiEntity();
    const events = appEvents();
    const res = await api(disconnectPath(id), json({ entity_ids: entities }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({
      connection_id: id,
      entity_ids: entities,
      connection_disconnected: true,
      connection: null,
    });
    expect(finch().mock.connections.get(id)?.disconnected).toBe(true);
    expect(await kvNames()).toEqual([]);
    expect(events()).toMatchObject([
      { type: "connection.disconnected", connection_id: id, connection: { status: "disconnected" } },
    ]);
    await expectError(await api(`/api/connections/${id}`), 404, "connection_not_found");
    // Anything that needs a live connection is refused now, before Finch is asked.
    const asked = finch().sent.length;
    await expectError(
      await api(disconnectPath(id), json({ entity_ids: [entities[0]] })),
      409,
      "connection_disconnected",
    );
    expect(finch().sent).toHaveLength(asked);
  });

  it("when Finch cannot be asked after acting, stores what it did (those entities disconnected)", async () => {
    const { id, entities } = await multiEntity();
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    const mock = finch().mock;
    finch().override("GET /introspect", () =>
      Response.json({ code: 500, name: "server_error", message: "down" }, { status: 500 }),
    );
    const events = appEvents();
    const res = await api(disconnectPath(id), json({ entity_ids: [entities[1]] }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(mock.connections.get(id)?.entities.map((e) => e.disconnected)).toEqual([false, true]);
    const stored = await rawRecord(id);
    expect(stored?.entities?.map((e) => e.status)).toEqual(["connected", "disconnected"]);
    expect(stored?.entity_counts).toEqual({ connected: 1, disconnected: 1 });
    expect(events()).toMatchObject([{ type: "connection.updated", data: { reason: "entity_disconnect" } }]);
  });

  it("a token Finch refuses after it while entities remain (a re-authentication meanwhile) does not end the connection", async () => {
    const { id, entities } = await multiEntity();
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    finch().override("GET /introspect", () =>
      Response.json({ code: 401, name: "authentication_error", message: "revoked" }, { status: 401 }),
    );
    const events = appEvents();
    const res = await api(disconnectPath(id), json({ entity_ids: [entities[1]] }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ connection_disconnected: false, connection: { status: "connected" } });
    expect((await rawRecord(id))?.entities?.map((e) => e.status)).toEqual(["connected", "disconnected"]);
    expect(events().map((e) => e.type)).toEqual(["connection.updated"]);
  });

  it("an entity the connection does not have: 404 entity_not_found, nothing stored or told", async () => {
    const { id } = await multiEntity();
    const before = await rawRecord(id);
    const events = appEvents();
    const res = await api(disconnectPath(id), json({ entity_ids: ["0f0f0f0f-0000-4000-8000-00000000abcd"] }));
    await expectError(res, 404, "entity_not_found");
    expect(finch().calls("POST /disconnect-entity")).toHaveLength(1);
    expect(await rawRecord(id)).toEqual(before);
    expect(events()).toEqual([]);
  });

  it("takes 1 to 100 Finch-shaped ids, and refuses anything else with 400 before Finch is asked", async () => {
    const { connectionId } = await seedConnection();
    const names = await kvNames();
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `e-${i}`);
    for (const body of [
      {},
      { entity_ids: [] },
      { entity_ids: ids(101) },
      { entity_ids: ["has space"] },
      { entity_ids: ["a/b"] },
      { entity_ids: ["x".repeat(129)] },
      { entity_ids: [42] },
      { entity_ids: "e-1" },
      { entity_ids: ["e-1"], extra: true },
    ]) {
      await expectError(await api(disconnectPath(connectionId), json(body)), 400, "body_invalid");
    }
    await expectError(await api(disconnectPath("bad id!"), json({ entity_ids: ["e-1"] })), 400, "param_invalid");
    expect(finch().sent).toEqual([]);
    await expectStored(names);
    // Exactly 100 gets past the input rules (Finch then refuses ids it does not know).
    await expectError(await api(disconnectPath(connectionId), json({ entity_ids: ids(100) })), 404, "entity_not_found");
    expect(finch().calls("POST /disconnect-entity")[0]?.json().entity_ids).toHaveLength(100);
    expect((await api(disconnectPath(connectionId), { method: "GET" })).status).toBe(405);
  });

  it("needs connections:write, and a key limited to customers only reaches theirs", async () => {
    const { id, entities } = await multiEntity();
    const other = await seedConnection({ customerId: "globex" });
    const as = scopedWorker();
    const body = json({ entity_ids: [entities[0]] });
    await expectError(await as("reader")(disconnectPath(id), body), 403, "scope_missing");
    await expectError(await as("acme")(disconnectPath(other.connectionId), body), 404, "connection_not_found");
    expect(finch().calls("POST /disconnect-entity")).toEqual([]);
    const res = await as("acme")(disconnectPath(id), body);
    expect(res.status, await res.clone().text()).toBe(200);
  });
});
