import { describe, expect, it } from "vitest";
import { expectError, expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { rawRecord, seedConnection } from "../support/fixtures";
import { API_KEY, api } from "../support/http";
import { ownBudget, workerWith } from "../support/worker";

const base = (id: string) => `/api/connections/${id}/finch`;

describe("proxy: what goes to Finch", () => {
  it("forwards to the same path with the stored token and Finch-API-Version, and returns Finch's answer", async () => {
    const { connectionId, accessToken } = await seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    const res = await api(`${base(connectionId)}/employer/company`, {
      headers: {
        cookie: "session=abc",
        "cf-connecting-ip": "203.0.113.9",
        "x-forwarded-for": "203.0.113.9",
        "x-custom": "kept",
        accept: "application/json",
      },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res);
    const company = await res.json<{ legal_name: string; id: string }>();
    expect(company.legal_name).toBe("Acme Inc");
    expect(company.id).toBe(finch().mock.connections.get(connectionId)?.companyId);

    expect(finch().sent).toHaveLength(1);
    const sent = finch().sent[0]!;
    expect(`${sent.method} ${sent.url.href}`).toBe("GET https://api.tryfinch.com/employer/company");
    expect(sent.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(sent.headers.get("finch-api-version")).toBe("2020-09-17");
    expect(sent.headers.get("x-custom")).toBe("kept");
    expect(sent.headers.get("accept")).toBe("application/json");
    for (const name of ["cookie", "cf-connecting-ip", "x-forwarded-for"])
      expect(sent.headers.has(name), name).toBe(false);
    expect([...sent.headers.values()].join(" ")).not.toContain(API_KEY);
  });

  it("drops method and URL override headers, so Finch runs exactly the method and path we checked", async () => {
    const { connectionId } = await seedConnection();
    const overrides = {
      "x-http-method-override": "DELETE",
      "x-http-method": "DELETE",
      "x-method-override": "DELETE",
      "x-original-method": "DELETE",
      "x-original-url": "/disconnect",
      "x-rewrite-url": "/disconnect",
    };
    const res = await api(`${base(connectionId)}/employer/company`, { headers: { ...overrides, "x-custom": "kept" } });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(finch().sent).toHaveLength(1);
    const sent = finch().sent[0]!;
    expect(`${sent.method} ${sent.url.pathname}`).toBe("GET /employer/company");
    for (const name of Object.keys(overrides)) expect(sent.headers.has(name), name).toBe(false);
    expect(sent.headers.get("x-custom")).toBe("kept");
  });

  it("passes headers named like object properties as headers, and drops a request's Set-Cookie", async () => {
    const { connectionId } = await seedConnection();
    // The upstream headers are built as a plain record (src/proxy/headers.ts): these names
    // must not reach its prototype or be lost.
    const headers = new Headers([
      ["__proto__", "p"],
      ["constructor", "c"],
      ["hasownproperty", "h"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ]);
    const res = await api(`${base(connectionId)}/employer/company`, { headers });
    expect(res.status, await res.clone().text()).toBe(200);
    const sent = finch().sent[0]!;
    expect(sent.headers.get("__proto__")).toBe("p");
    expect(sent.headers.get("constructor")).toBe("c");
    expect(sent.headers.get("hasownproperty")).toBe("h");
    expect(sent.headers.has("set-cookie")).toBe(false);
    expect(sent.headers.get("finch-api-version")).toBe("2020-09-17");
  });

  it("passes the query string through and keeps a Finch-API-Version the caller chose", async () => {
    const { connectionId } = await seedConnection();
    const res = await api(`${base(connectionId)}/employer/directory?limit=2&offset=3`, {
      headers: { "finch-api-version": "2020-09-17-custom" },
    });
    const body = await res.json<{ paging: { offset: number }; individuals: unknown[] }>();
    expect(body.paging.offset).toBe(3);
    expect(body.individuals).toHaveLength(2);
    const sent = finch().sent[0]!;
    expect(sent.url.search).toBe("?limit=2&offset=3");
    expect(sent.headers.get("finch-api-version")).toBe("2020-09-17-custom");
  });

  it("streams a POST body through unchanged, with its method and content type", async () => {
    const { connectionId } = await seedConnection();
    finch().override("POST /employer/individual", async (req) =>
      Response.json({ echoed: await req.text(), type: req.headers.get("content-type") }),
    );
    const payload = JSON.stringify({ requests: [{ individual_id: "a" }, { individual_id: "b" }] });
    const res = await api(`${base(connectionId)}/employer/individual`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: payload,
    });
    expect(await res.json()).toEqual({ echoed: payload, type: "application/json" });
    expect(finch().sent[0]?.body).toBe(payload);

    // A chunked body (no Content-Length) arrives whole too.
    const bytes = new TextEncoder().encode(payload);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 10));
        c.enqueue(bytes.slice(10));
        c.close();
      },
    });
    const chunked = await api(`${base(connectionId)}/employer/individual`, { method: "POST", body: stream });
    expect(((await chunked.json()) as { echoed: string }).echoed).toBe(payload);
  });

  it("refuses a declared body over 1 MiB with 413, without calling Finch", async () => {
    const { connectionId } = await seedConnection();
    const big = new Uint8Array(1024 * 1024 + 1);
    const declared = await api(`${base(connectionId)}/employer/individual`, { method: "POST", body: big });
    await expectError(declared, 413, "body_too_large");
    expect(finch().sent).toEqual([]);
  });

  it("stops a chunked body at 1 MiB and answers 413 instead of Finch's reply", async () => {
    const { connectionId } = await seedConnection();
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(256 * 1024));
        c.close();
      },
    });
    const chunked = await api(`${base(connectionId)}/employer/individual`, { method: "POST", body: stream });
    await expectError(chunked, 413, "body_too_large");
  });
});

describe("proxy: what comes back", () => {
  it("returns Finch's status and only the allowed headers, never cacheable", async () => {
    const { connectionId } = await seedConnection();
    finch().override(
      "GET /employer/directory",
      () =>
        new Response('{"code":429,"name":"rate_limit_error","finch_code":"finch_application_rl"}', {
          status: 429,
          headers: {
            "content-type": "application/json",
            "finch-request-id": "req_123",
            "retry-after": "7",
            "x-ratelimit-remaining": "0",
            "set-cookie": "finch=1",
            "x-internal-host": "db-7",
            "cache-control": "public, max-age=600",
          },
        }),
    );
    // Another app's budget: Finch's 429 pauses the product's budget for the rest of this file.
    const res = await workerWith(ownBudget())(`${base(connectionId)}/employer/directory`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("finch-request-id")).toBe("req_123");
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.has("set-cookie")).toBe(false);
    expect(res.headers.has("x-internal-host")).toBe(false);
    expect(await res.json()).toMatchObject({ finch_code: "finch_application_rl" });
    // The proxy never retries: the caller decides.
    expect(finch().sent).toHaveLength(1);
  });

  it("streams the response: the first bytes arrive before Finch has sent the rest", async () => {
    const { connectionId } = await seedConnection();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const encoder = new TextEncoder();
    finch().override(
      "GET /employer/directory",
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async start(c) {
              c.enqueue(encoder.encode("first-"));
              // Finch "sends" the rest only once the caller has seen the first chunk. A proxy
              // that buffered would wait here forever and the test would time out.
              await gate;
              c.enqueue(encoder.encode("second"));
              c.close();
            },
          }),
          { headers: { "content-type": "text/plain" } },
        ),
    );
    const res = await api(`${base(connectionId)}/employer/directory`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("first-")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe("first-");
    release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe("first-second");
  });

  it("marks the connection reauth on 401 reauthenticate_user and passes Finch's answer through", async () => {
    const { connectionId } = await seedConnection();
    finch().mock.setConnectionStatus(connectionId, "reauth");
    const res = await api(`${base(connectionId)}/employer/company`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ name: "authentication_error", finch_code: "reauthenticate_user" });
    const stored = await rawRecord(connectionId);
    expect(stored?.status).toBe("reauth");
    const listed = await (await api("/api/connections?status=reauth")).json<{
      connections: { connection_id: string }[];
    }>();
    expect(listed.connections.map((c) => c.connection_id)).toContain(connectionId);
  });

  it("leaves the status alone on other Finch errors", async () => {
    const { connectionId, record } = await seedConnection();
    finch().mock.setConnectionStatus(connectionId, "error_permissions");
    const res = await api(`${base(connectionId)}/employer/company`);
    expect(res.status).toBe(403);
    finch().mock.failNext({ path: "/employer/company" }, { status: 401, name: "authentication_error" });
    expect((await api(`${base(connectionId)}/employer/company`)).status).toBe(401);
    expect(await rawRecord(connectionId)).toEqual(record);
  });
});
