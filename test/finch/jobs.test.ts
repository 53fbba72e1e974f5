import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config/index";
import { AppError } from "../../src/errors";
import { FINCH_API_VERSION } from "../../src/finch/http";
import { getJob, MAX_SYNC_RETRY_AFTER_S, startDataSync, syncRetryAfterS } from "../../src/finch/jobs";
import { newTrace } from "../../src/lib/trace";
import { finch } from "../support/finch";
import { TEST_VARS } from "../support/secrets";

/**
 * The Worker's Finch client for data syncs: POST /jobs/automated and GET /jobs/automated/{id},
 * what is sent, the parsed answers, Finch's hourly refresh limit as finch_sync_limited with a
 * Retry-After, and malformed answers as finch_bad_response.
 */
const settings = () => getConfig(env).finch();

function connection() {
  return finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("startDataSync", () => {
  it("sends POST /jobs/automated { type: data_sync_all } with the token; a second start answers the running job", async () => {
    const { accessToken } = connection();
    const sync = await startDataSync(settings(), accessToken, newTrace("t"));
    const [sent] = finch().calls("POST /jobs/automated");
    expect(sent.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(sent.headers.get("finch-api-version")).toBe(FINCH_API_VERSION);
    expect(sent.json()).toEqual({ type: "data_sync_all" });
    expect(sync).toEqual({
      jobId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      jobUrl: `${TEST_VARS.FINCH_API_BASE_URL}/jobs/automated/${sync.jobId}`,
      allowedRefreshes: 1,
      remainingRefreshes: 0,
      retryAt: expect.any(String),
    });
    expect((await startDataSync(settings(), accessToken, newTrace("t"))).jobId).toBe(sync.jobId);
  });

  it("over Finch's hourly limit: finch_sync_limited (429) with Retry-After until retry_at", async () => {
    const { accessToken, connectionId } = connection();
    const first = await startDataSync(settings(), accessToken, newTrace("t"));
    finch().mock.completeJob(connectionId);
    const e = await refusal(startDataSync(settings(), accessToken, newTrace("t")));
    expect([e.code, e.status]).toEqual(["finch_sync_limited", 429]);
    const wait = Number(e.headers?.["Retry-After"]);
    const expected = Math.ceil((Date.parse(first.retryAt ?? "") - Date.now()) / 1000);
    expect(wait).toBeGreaterThanOrEqual(expected - 5);
    expect(wait).toBeLessThanOrEqual(Math.min(expected, MAX_SYNC_RETRY_AFTER_S));
    expect(finch().calls("POST /jobs/automated")).toHaveLength(2);
  });

  it("a 2xx that started no job but names retry_at is finch_sync_limited too", async () => {
    const { accessToken } = connection();
    const retryAt = new Date(Date.now() + 3_600_000 * 5).toISOString();
    finch().override("POST /jobs/automated", () =>
      Response.json({ allowed_refreshes: 1, remaining_refreshes: 0, retry_at: retryAt }, { status: 201 }),
    );
    const e = await refusal(startDataSync(settings(), accessToken, newTrace("t")));
    expect(e.code).toBe("finch_sync_limited");
    expect(e.headers).toEqual({ "Retry-After": String(MAX_SYNC_RETRY_AFTER_S) });
  });

  it("any other 429 is Finch's rate limit: finch_rate_limited with Finch's Retry-After", async () => {
    const { accessToken } = connection();
    finch().mock.failNext(
      { path: "/jobs/automated" },
      {
        status: 429,
        name: "rate_limit_exceeded_error",
        finch_code: "finch_application_rl",
        headers: { "Retry-After": "7" },
      },
    );
    const e = await refusal(startDataSync(settings(), accessToken, newTrace("t")));
    expect(e.code).toBe("finch_rate_limited");
    expect(e.headers).toEqual({ "Retry-After": "7" });
  });

  it("reauthenticate_user is finch_reauthenticate", async () => {
    const { accessToken } = connection();
    finch().mock.failNext(
      { path: "/jobs/automated" },
      { status: 401, name: "authentication_error", finch_code: "reauthenticate_user" },
    );
    expect((await refusal(startDataSync(settings(), accessToken, newTrace("t")))).code).toBe("finch_reauthenticate");
  });

  it.each([
    ["no job and no retry_at", { allowed_refreshes: 1, remaining_refreshes: 1 }],
    ["a negative count", { job_id: "j-1", allowed_refreshes: 1, remaining_refreshes: -1 }],
    ["a job id that could not be Finch's", { job_id: "../introspect", allowed_refreshes: 1, remaining_refreshes: 0 }],
    ["no counts", { job_id: "j-1" }],
  ])("an answer with %s is finch_bad_response", async (_, body) => {
    const { accessToken } = connection();
    finch().override("POST /jobs/automated", () => Response.json(body, { status: 201 }));
    expect((await refusal(startDataSync(settings(), accessToken, newTrace("t")))).code).toBe("finch_bad_response");
  });
});

describe("syncRetryAfterS", () => {
  const now = Date.parse("2026-03-01T12:00:00.000Z");
  it.each([
    ["an hour ago", "2026-03-01T11:00:00.000Z", 0],
    ["now", "2026-03-01T12:00:00.000Z", 0],
    ["1 ms ahead", "2026-03-01T12:00:00.001Z", 1],
    ["1 s ahead", "2026-03-01T12:00:01.000Z", 1],
    ["1.001 s ahead", "2026-03-01T12:00:01.001Z", 2],
    ["an hour ahead (the cap)", "2026-03-01T13:00:00.000Z", 3600],
    ["an hour and a second ahead", "2026-03-01T13:00:01.000Z", 3600],
    ["with an offset", "2026-03-01T13:00:30+01:00", 30],
    ["a date without a time", "2026-03-01", 3600],
    ["not a date", "soon", 3600],
  ])("%s -> %i", (_, retryAt, seconds) => {
    expect(syncRetryAfterS(retryAt, now)).toBe(seconds);
  });
});

describe("getJob", () => {
  it("sends GET /jobs/automated/{id} with the token and parses the job, pending then complete", async () => {
    const { accessToken, connectionId } = connection();
    const { jobId } = await startDataSync(settings(), accessToken, newTrace("t"));
    const pending = await getJob(settings(), accessToken, jobId, newTrace("t"));
    const [sent] = finch().calls(`GET /jobs/automated/${jobId}`);
    expect(sent.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(pending).toEqual({
      jobId,
      type: "data_sync_all",
      status: "pending",
      createdAt: expect.any(String),
      startedAt: null,
      completedAt: null,
    });
    finch().mock.completeJob(connectionId);
    const done = await getJob(settings(), accessToken, jobId, newTrace("t"));
    expect(done).toMatchObject({ status: "complete", completedAt: expect.any(String) });
  });

  it("another connection's job is null (Finch answers 404)", async () => {
    const a = connection();
    const b = connection();
    const { jobId } = await startDataSync(settings(), a.accessToken, newTrace("t"));
    expect(await getJob(settings(), b.accessToken, jobId, newTrace("t"))).toBeNull();
  });

  it("an id that cannot be Finch's is null without a call", async () => {
    const { accessToken } = connection();
    expect(await getJob(settings(), accessToken, "../introspect", newTrace("t"))).toBeNull();
    expect(await getJob(settings(), accessToken, "j".repeat(129), newTrace("t"))).toBeNull();
    expect(finch().sent).toEqual([]);
  });

  it.each([
    ["an unknown status", (id: string) => ({ job_id: id, type: "data_sync_all", status: "done" })],
    ["another job's id", () => ({ job_id: "j-other", type: "data_sync_all", status: "complete" })],
    ["no type", (id: string) => ({ job_id: id, status: "complete" })],
  ])("an answer with %s is finch_bad_response", async (_, body) => {
    const { accessToken } = connection();
    finch().override("GET /jobs/automated/j-1", () => Response.json(body("j-1")));
    expect((await refusal(getJob(settings(), accessToken, "j-1", newTrace("t")))).code).toBe("finch_bad_response");
  });
});
