import { describe, expect, it } from "vitest";
import { ALLOWED_REFRESHES, JobBook, REFRESH_WINDOW_MS } from "../../mock-finch/src/jobs";
import { MAX_EMPLOYEE_SIZE } from "../../mock-finch/src/sandbox";
import { callMock, finch } from "../support/finch";
import { TEST_VARS } from "../support/secrets";

/**
 * The mock Finch's sandbox surface, as Finch and its SDK describe it: sandbox connections
 * (Basic auth) that are live connections, status flips, multi-entity connections and
 * POST /disconnect-entity, and automated jobs with their hourly refresh limit.
 */
async function sandboxConnection(body: Record<string, unknown> = { provider_id: "gusto" }) {
  const res = await callMock("POST", "/sandbox/connections", { auth: "basic", body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { access_token: string; connection_id: string; entity_id: string };
}

const bearer = (token: string) => ({ bearer: token });

describe("POST /sandbox/connections", () => {
  it("answers like Finch and makes a live connection (introspect, data, disconnect)", async () => {
    const answer = await sandboxConnection({ provider_id: "gusto", products: ["company", "directory"] });
    expect(answer).toEqual({
      access_token: expect.any(String),
      token_type: "bearer",
      connection_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      entity_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      company_id: expect.any(String),
      account_id: expect.any(String),
      provider_id: "gusto",
      authentication_type: "credential",
      products: ["company", "directory"],
    });
    const token = bearer(answer.access_token);
    const info = await callMock("GET", "/introspect", { auth: token });
    expect(info.body).toMatchObject({
      connection_id: answer.connection_id,
      provider_id: "gusto",
      connection_status: { status: "connected" },
      entities: [
        { id: answer.entity_id, name: expect.any(String), source_id: expect.any(String), status: "connected" },
      ],
    });
    expect((await callMock("GET", "/employer/company", { auth: token })).status).toBe(200);
    const people = await callMock("GET", "/employer/directory", { auth: token });
    expect(people.body.paging.count).toBe(20); // Finch's default employee_size
    expect((await callMock("POST", "/disconnect", { auth: token })).body).toEqual({ status: "success" });
    expect((await callMock("GET", "/introspect", { auth: token })).status).toBe(401);
  });

  it("defaults to Finch's organization products; employee_size sizes the directory", async () => {
    const answer = await sandboxConnection({ provider_id: "bamboo_hr", employee_size: 3 });
    expect(answer).toMatchObject({ products: ["company", "directory", "individual", "employment"] });
    const people = await callMock("GET", "/employer/directory", { auth: bearer(answer.access_token) });
    expect(people.body.paging.count).toBe(3);
  });

  it("starts an assisted connection as pending", async () => {
    const answer = await sandboxConnection({ provider_id: "gusto", authentication_type: "assisted" });
    const info = await callMock("GET", "/introspect", { auth: bearer(answer.access_token) });
    expect(info.body.connection_status.status).toBe("pending");
    expect(info.body.authentication_methods[0].type).toBe("assisted");
  });

  it.each([
    ["an unknown provider", { provider_id: "no_such_provider" }],
    ["no provider", { products: ["company"] }],
    ["an unknown authentication_type", { provider_id: "gusto", authentication_type: "password" }],
    ["employee_size 0", { provider_id: "gusto", employee_size: 0 }],
    ["employee_size over the mock's limit", { provider_id: "gusto", employee_size: MAX_EMPLOYEE_SIZE + 1 }],
    ["employee_size 2.5", { provider_id: "gusto", employee_size: 2.5 }],
    ["an unknown product", { provider_id: "gusto", products: ["company", "payroll_magic"] }],
    ["an empty product list", { provider_id: "gusto", products: [] }],
  ])("refuses %s with a Finch-shaped 400 and creates nothing", async (_, body) => {
    const res = await callMock("POST", "/sandbox/connections", { auth: "basic", body });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: 400, name: "invalid_request", message: expect.any(String) });
    expect(finch().mock.connections.size).toBe(0);
  });

  it("accepts employee_size at the mock's limit", async () => {
    await sandboxConnection({ provider_id: "gusto", employee_size: MAX_EMPLOYEE_SIZE });
  });

  it("needs the application's Basic credentials", async () => {
    const res = await callMock("POST", "/sandbox/connections", { auth: bearer("x"), body: { provider_id: "gusto" } });
    expect(res.status).toBe(401);
    expect(res.body.name).toBe("invalid_client_error");
  });
});

describe("PUT /sandbox/connections/accounts", () => {
  it("flips the connection's status: data calls then answer 401 reauthenticate_user", async () => {
    const { access_token, connection_id } = await sandboxConnection();
    const res = await callMock("PUT", "/sandbox/connections/accounts", {
      auth: bearer(access_token),
      body: { connection_status: "reauth" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ connection_id, provider_id: "gusto", authentication_type: "credential" });
    const data = await callMock("GET", "/employer/company", { auth: bearer(access_token) });
    expect(data.status).toBe(401);
    expect(data.body.finch_code).toBe("reauthenticate_user");
    const info = await callMock("GET", "/introspect", { auth: bearer(access_token) });
    expect(info.body.connection_status.status).toBe("reauth");
  });

  it("refuses an unknown status and an unknown token", async () => {
    const { access_token } = await sandboxConnection();
    const bad = { connection_status: "sleeping" };
    expect(
      (await callMock("PUT", "/sandbox/connections/accounts", { auth: bearer(access_token), body: bad })).status,
    ).toBe(400);
    const other = { connection_status: "reauth" };
    expect((await callMock("PUT", "/sandbox/connections/accounts", { auth: bearer("nope"), body: other })).status).toBe(
      401,
    );
  });
});

describe("finch_multi_entity and POST /disconnect-entity", () => {
  it("a sandbox connection with two entities; disconnecting one keeps the other", async () => {
    const { access_token, entity_id } = await sandboxConnection({ provider_id: "finch_multi_entity" });
    const token = bearer(access_token);
    const before = (await callMock("GET", "/introspect", { auth: token })).body.entities;
    expect(before).toHaveLength(2);
    expect(before[0].id).toBe(entity_id);
    expect(new Set(before.map((e: { name: string }) => e.name)).size).toBe(2);
    const res = await callMock("POST", "/disconnect-entity", { auth: token, body: { entity_ids: [entity_id] } });
    expect(res).toMatchObject({ status: 200, body: { status: "success" } });
    const after = (await callMock("GET", "/introspect", { auth: token })).body.entities;
    expect(after.map((e: { status: string }) => e.status)).toEqual(["disconnected", "connected"]);
    expect((await callMock("GET", "/employer/company", { auth: token })).status).toBe(200);
  });

  it("disconnecting the last entity disconnects the connection", async () => {
    const { access_token } = await sandboxConnection({ provider_id: "finch_multi_entity" });
    const token = bearer(access_token);
    const ids = (await callMock("GET", "/introspect", { auth: token })).body.entities.map((e: { id: string }) => e.id);
    expect((await callMock("POST", "/disconnect-entity", { auth: token, body: { entity_ids: ids } })).status).toBe(200);
    expect((await callMock("GET", "/introspect", { auth: token })).status).toBe(401);
  });

  it.each([
    ["an empty list", { entity_ids: [] }],
    ["no list", {}],
    ["an entity of another connection", "other"],
    ["101 ids", { entity_ids: Array.from({ length: 101 }, (_, i) => `e${i}`) }],
  ])("refuses %s with 400 and disconnects nothing", async (_, spec) => {
    const { access_token, entity_id } = await sandboxConnection({ provider_id: "finch_multi_entity" });
    const other = await sandboxConnection();
    const body = spec === "other" ? { entity_ids: [entity_id, other.entity_id] } : spec;
    const res = await callMock("POST", "/disconnect-entity", { auth: bearer(access_token), body });
    expect(res.status).toBe(400);
    expect(res.body.name).toBe("invalid_request");
    const entities = (await callMock("GET", "/introspect", { auth: bearer(access_token) })).body.entities;
    expect(entities.map((e: { status: string }) => e.status)).toEqual(["connected", "connected"]);
  });
});

describe("jobs", () => {
  it("POST /jobs/automated: one running job per connection, one forced refresh an hour", async () => {
    const { access_token, connection_id } = await sandboxConnection();
    const token = bearer(access_token);
    const first = await callMock("POST", "/jobs/automated", { auth: token, body: { type: "data_sync_all" } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      job_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      job_url: `${TEST_VARS.FINCH_API_BASE_URL}/jobs/automated/${first.body.job_id}`,
      allowed_refreshes: ALLOWED_REFRESHES,
      remaining_refreshes: 0,
      retry_at: expect.any(String),
    });
    // While it runs, a second call answers the same job.
    const again = await callMock("POST", "/jobs/automated", { auth: token, body: { type: "data_sync_all" } });
    expect(again.body.job_id).toBe(first.body.job_id);
    const job = await callMock("GET", `/jobs/automated/${first.body.job_id}`, { auth: token });
    expect(job.body).toMatchObject({ job_id: first.body.job_id, type: "data_sync_all", status: "pending" });

    expect(finch().mock.completeJob(connection_id)).toMatchObject({ jobId: first.body.job_id, status: "complete" });
    const done = await callMock("GET", `/jobs/automated/${first.body.job_id}`, { auth: token });
    expect(done.body).toMatchObject({ status: "complete", completed_at: expect.any(String) });

    // Finished, but the hour's refresh is used: refused with retry_at.
    const limited = await callMock("POST", "/jobs/automated", { auth: token, body: { type: "data_sync_all" } });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ allowed_refreshes: 1, remaining_refreshes: 0, retry_at: first.body.retry_at });
    // An hour later the window is over and a new refresh starts.
    finch().mock.advanceClock(REFRESH_WINDOW_MS);
    const next = await callMock("POST", "/jobs/automated", { auth: token, body: { type: "data_sync_all" } });
    expect(next.status).toBe(201);
    expect(next.body.job_id).not.toBe(first.body.job_id);
  });

  it("the refresh window is one hour from the first refresh, to the millisecond", () => {
    let now = Date.parse("2026-03-01T12:00:00.000Z");
    const book = new JobBook(() => now);
    const first = book.start("c1", "https://api.tryfinch.com");
    expect("job" in first && first.quota).toEqual({
      allowed_refreshes: 1,
      remaining_refreshes: 0,
      retry_at: "2026-03-01T13:00:00.000Z",
    });
    book.complete("c1", "https://api.tryfinch.com", "complete");
    now += REFRESH_WINDOW_MS - 1;
    expect(book.start("c1", "https://api.tryfinch.com")).toEqual({
      limited: { allowed_refreshes: 1, remaining_refreshes: 0, retry_at: "2026-03-01T13:00:00.000Z" },
    });
    // Another connection has its own window.
    expect("job" in book.start("c2", "https://api.tryfinch.com")).toBe(true);
    now += 1;
    expect("job" in book.start("c1", "https://api.tryfinch.com")).toBe(true);
  });

  it("PUT /sandbox/jobs/configuration decides how later jobs end", async () => {
    const { access_token, connection_id } = await sandboxConnection();
    const token = bearer(access_token);
    const config = { type: "data_sync_all", completion_status: "reauth_error" };
    expect((await callMock("PUT", "/sandbox/jobs/configuration", { auth: token, body: config })).body).toEqual(config);
    expect((await callMock("GET", "/sandbox/jobs/configuration", { auth: token })).body).toEqual([config]);
    const started = await callMock("POST", "/sandbox/jobs", { auth: token, body: { type: "data_sync_all" } });
    expect(started.status).toBe(200);
    finch().mock.completeJob(connection_id);
    const job = await callMock("GET", `/jobs/automated/${started.body.job_id}`, { auth: token });
    expect(job.body.status).toBe("reauth_error");
  });

  it.each([
    ["an unknown job type", "/jobs/automated", { type: "data_sync_some" }],
    ["an unknown completion status", "/sandbox/jobs/configuration", { type: "data_sync_all", completion_status: "ok" }],
  ])("refuses %s with 400", async (_, path, body) => {
    const { access_token } = await sandboxConnection();
    const method = path.endsWith("configuration") ? "PUT" : "POST";
    expect((await callMock(method, path, { auth: bearer(access_token), body })).status).toBe(400);
  });

  it("GET /jobs/automated/{id}: another connection's job is not found", async () => {
    const a = await sandboxConnection();
    const b = await sandboxConnection();
    const job = await callMock("POST", "/jobs/automated", {
      auth: bearer(a.access_token),
      body: { type: "data_sync_all" },
    });
    const res = await callMock("GET", `/jobs/automated/${job.body.job_id}`, { auth: bearer(b.access_token) });
    expect(res.status).toBe(404);
    expect(res.body.name).toBe("not_found_error");
  });
});
