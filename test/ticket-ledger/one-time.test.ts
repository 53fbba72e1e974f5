import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { callbackPath, startFlow } from "../support/flow";
import { call, Jar, mintTicket } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";

/**
 * Issue 9: a ticket is a one-time link, held by the TICKETS Durable Object (consistent across
 * locations, unlike KV). The browser that started a ticket's session may come back to it;
 * any other browser is refused, and one ticket never creates a second Finch session.
 */
beforeEach(clearKv);

const sessions = () => finch().calls("POST /connect/sessions");
const connect = (ticket: string, jar: Jar, path = "/connect") =>
  call(`${path}?ticket=${encodeURIComponent(ticket)}`, { headers: { ...JSON_ACCEPT, cookie: jar.header() } });

describe("one ticket, one Connect session", () => {
  it("the same browser asking again gets the same Finch URL, with no new session", async () => {
    const first = await startFlow();
    const again = await connect(first.ticket, first.jar);
    expect(again.status).toBe(302);
    expect(again.headers.get("location")).toBe(first.location.href);
    expect(again.headers.getSetCookie()).toEqual([]);
    expect(sessions()).toHaveLength(1);
  });

  it("the embedded flow resumes too: same session_id and state", async () => {
    const ticket = await mintTicket();
    const jar = new Jar();
    const first = await connect(ticket, jar, "/connect/session");
    jar.take(first);
    const again = await connect(ticket, jar, "/connect/session");
    expect(await again.json()).toEqual(await first.json());
    expect(sessions()).toHaveLength(1);
  });

  it("another browser gets 409 ticket_used and no session", async () => {
    const first = await startFlow();
    await expectError(await connect(first.ticket, new Jar()), 409, "ticket_used");
    await expectError(await connect(first.ticket, new Jar(), "/connect/session"), 409, "ticket_used");
    expect(sessions()).toHaveLength(1);
  });

  it("the same browser switching flows with the same ticket: 409 (the session was made for the other flow)", async () => {
    const first = await startFlow();
    await expectError(await connect(first.ticket, first.jar, "/connect/session"), 409, "ticket_used");
    expect(sessions()).toHaveLength(1);
  });

  it("after the callback completed, the ticket cannot start anything, even in the same browser", async () => {
    const flow = await startFlow();
    const code = finch().mock.approve(flow.sessionId);
    const done = await call(callbackPath({ code, state: flow.state }), { headers: { cookie: flow.jar.header() } });
    expect(done.status).toBe(200);
    flow.jar.take(done);
    await expectError(await connect(flow.ticket, flow.jar), 409, "ticket_used");
    expect(sessions()).toHaveLength(1);
  });

  it("20 browsers racing with one ticket: exactly one session is created", async () => {
    const ticket = await mintTicket();
    const answers = await Promise.all(Array.from({ length: 20 }, () => connect(ticket, new Jar())));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 302)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(sessions()).toHaveLength(1);
  });

  it("when Finch could not create the session, the link stays usable", async () => {
    finch().override("POST /connect/sessions", (_req, n) =>
      n === 1 ? Response.json({ code: 400, name: "bad_request", message: "no" }, { status: 400 }) : Response.error(),
    );
    const ticket = await mintTicket();
    await expectError(await connect(ticket, new Jar()), 502, "finch_rejected");
    finch().override("POST /connect/sessions", (req) => finch().mock.fetch(req));
    expect((await connect(ticket, new Jar())).status).toBe(302);
  });

  it("a ticket without jti is refused, naming the claim", async () => {
    const body = await expectError(
      await connect(await mintTicket({ jti: undefined }), new Jar()),
      400,
      "ticket_claims_invalid",
    );
    expect(body.error.message).toContain("jti");
    expect(sessions()).toEqual([]);
  });
});

describe("a cross-site callback cannot end this browser's flow", () => {
  it("error= with another customer's ticket as state leaves the pending cookie alone", async () => {
    const flow = await startFlow();
    const mallory = await mintTicket({ sub: "mallory", name: "Mallory Ltd" });
    const forged = await call(callbackPath({ error: "access_denied", state: mallory }), {
      headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
    });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.headers.getSetCookie()).toEqual([]);
    const wrongState = await call(callbackPath({ error: "access_denied", state: "not-this-browsers-state" }), {
      headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
    });
    await expectError(wrongState, 403, "state_mismatch");
    expect(wrongState.headers.getSetCookie()).toEqual([]);
    // The real flow still completes.
    const code = finch().mock.approve(flow.sessionId);
    const res = await call(callbackPath({ code, state: flow.state }), {
      headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
    });
    expect(res.status, await res.clone().text()).toBe(200);
  });
});

describe("the customer check fails closed (finding 2)", () => {
  const withoutCustomer = (customer: string | null | undefined) =>
    finch().override("POST /auth/token", async (req) => {
      const res = await finch().mock.fetch(req);
      const body = (await res.json()) as Record<string, unknown>;
      if (customer === undefined) delete body.customer_id;
      else body.customer_id = customer;
      return Response.json(body, { status: res.status });
    });

  for (const [label, value] of [
    ["missing", undefined],
    ["null", null],
    ["empty", ""],
    ["another customer's", "globex"],
  ] as const) {
    it(`Finch's customer_id ${label}: customer_mismatch, nothing stored, a security event logged`, async () => {
      withoutCustomer(value);
      const flow = await startFlow();
      const code = finch().mock.approve(flow.sessionId);
      const mark = logLines().length;
      const res = await call(callbackPath({ code, state: flow.state }), {
        headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
      });
      await expectError(res, 403, "customer_mismatch");
      await expectStored([]);
      const line = jsonLogLinesSince(mark).find((l) => l.msg === "request" && l.route === "/callback");
      expect(line?.security_event).toBe("customer_mismatch");
    });
  }
});

describe("large tickets (finding 4)", () => {
  it("at the documented maxima /connect refuses with 400 naming the claims, and spends nothing", async () => {
    // Each claim at its documented limit: 255-character sub and name of 3-byte UTF-8 characters,
    // a 320-character email, a 1024-character percent-encoded return_to.
    const wide = "€".repeat(255);
    const email = `${"a".repeat(64)}@${["b", "c", "d", "e"].map((ch) => ch.repeat(60)).join(".")}.com`;
    const returnTo = `https://app.example.com/done?x=${"%C3%BC".repeat(200)}`.slice(0, 1024);
    expect(email.length).toBeLessThanOrEqual(320);
    const ticket = await mintTicket({ sub: wide, name: wide, email, return_to: returnTo, jti: "large-ticket-1" });
    const body = await expectError(await connect(ticket, new Jar()), 400, "ticket_claims_invalid");
    expect(body.error.message).toMatch(/shorten: (sub|name|return_to)/);
    expect(sessions()).toEqual([]);
    // The refusal spent nothing: the same ticket id, smaller, still starts a session.
    const smaller = await mintTicket({ sub: "acme", name: "Acme", jti: "large-ticket-1" });
    expect((await connect(smaller, new Jar())).status).toBe(302);
  });

  it("a ticket that fits gives a cookie the browser keeps (under 4096 bytes with its name)", async () => {
    const returnTo = `https://app.example.com/done?x=${"a".repeat(900)}`;
    const flow = await startFlow({ sub: "c".repeat(255), name: "n".repeat(255), return_to: returnTo });
    const cookie = flow.jar.header();
    expect(cookie.length).toBeLessThanOrEqual(4096);
    const code = finch().mock.approve(flow.sessionId);
    finch().override("POST /auth/token", async (req) => finch().mock.fetch(req));
    const res = await call(callbackPath({ code, state: flow.state }), { headers: { cookie } });
    expect(res.status, await res.clone().text()).toBe(303);
  });
});
