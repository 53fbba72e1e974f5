import { describe, expect, it } from "vitest";
import { expectNoSecrets, expectSecurityHeaders, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { callbackPath, startFlow } from "../support/flow";
import { call, Jar } from "../support/http";
import { type Caller, workerWith } from "../support/worker";

/**
 * Every kind of answer /connect and /callback give (redirects, pages, JSON, errors, with
 * and without SUCCESS_URL / ERROR_URL) carries the security headers and holds no
 * secret: not the access token, the client secret, the ticket secret, the ticket, nor
 * the authorization code (which only ever appears in the callback URL Finch built).
 */
interface Seen {
  what: string;
  res: Response;
  secrets: string[];
}

/** One full flow on `worker`, collecting each response with the secrets it must not hold. */
async function walk(worker: Caller, accept: string, returnTo?: string): Promise<Seen[]> {
  const seen: Seen[] = [];
  const jar = new Jar();
  const flow = await startFlow(returnTo ? { return_to: returnTo } : {}, jar, worker);
  const code = finch().mock.approve(flow.sessionId);
  const path = callbackPath({ code, state: flow.state });
  const done = await worker(path, { headers: { accept, cookie: jar.header() } });
  jar.take(done);
  const replay = await worker(path, { headers: { accept, cookie: jar.header() } });
  const stranger = await worker(path, { headers: { accept } });
  const session = await worker(`/connect/session?ticket=${flow.ticket}`, { headers: { accept } });
  const refused = await worker("/connect?ticket=nope", { headers: { accept } });
  const denied = await worker(callbackPath({ error: "access_denied", state: flow.state }), { headers: { accept } });
  const used = await worker(path, { headers: { accept, cookie: `__Host-fce_state=${"x".repeat(40)}` } });
  const secrets = [code, flow.ticket];
  for (const [what, res] of Object.entries({ done, replay, stranger, session, refused, denied, used })) {
    seen.push({ what, res, secrets });
  }
  return seen;
}

const variants: [string, () => Caller, string, string | undefined][] = [
  ["pages", () => call, "text/html", undefined],
  ["JSON", () => call, JSON_ACCEPT.accept, undefined],
  ["return_to", () => call, "text/html", "https://app.example.com/done"],
  [
    "SUCCESS_URL and ERROR_URL",
    () => workerWith({ SUCCESS_URL: "https://app.example.com/ok", ERROR_URL: "https://app.example.com/failed" }),
    "text/html",
    undefined,
  ],
];

describe("responses on /connect and /callback", () => {
  it.each(variants)("with %s carry the security headers and no secret", async (_, worker, accept, returnTo) => {
    const seen = await walk(worker(), accept, returnTo);
    expect(seen.map((s) => s.what)).toHaveLength(7);
    expect(finch().mock.tokens.size).toBe(1);
    for (const { what, res, secrets } of seen) {
      expect(res.status, what).toBeGreaterThanOrEqual(200);
      expectSecurityHeaders(res);
      await expectNoSecrets(res, secrets);
    }
  });

  it("the redirect to Finch carries only Finch's URL and the state", async () => {
    const flow = await startFlow();
    expect([...flow.location.searchParams.keys()].sort()).toEqual(["session", "state"]);
  });
});
