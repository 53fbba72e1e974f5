import { describe, expect, it } from "vitest";
import { finchTarget } from "../../src/proxy/path";
import { expectError, expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { rawRecord, seedConnection } from "../support/fixtures";
import { api, call } from "../support/http";

const finchUrl = (base: string, path: string, search: string) => finchTarget(base, path, search).url;

/** What the proxy refuses before any upstream call: where the token may go, and who may send it. */
const base = (id: string) => `/api/connections/${id}/finch`;

describe("proxy: refusals", () => {
  const tricks = [
    "/employer%2F..%2Fintrospect",
    "/employer%2fcompany",
    "/%5C%5Cevil.example/x",
    "/employer%5Ccompany",
    "//evil.example/employer/company",
    "/employer//company",
    "/https:%2F%2Fevil.example",
    "/http:/evil.example",
    "/employer/%2e%2e%252e/x%00y",
    "/%E0%A4%A",
    "",
    "/",
  ];

  it.each(tricks)("refuses the path %j with param_invalid and no upstream call", async (path) => {
    const { connectionId } = await seedConnection();
    const res = await api(`${base(connectionId)}${path}`);
    await expectError(res, 400, "param_invalid");
    await expectNoSecrets(res);
    expect(finch().sent).toEqual([]);
  });

  it("refuses Finch endpoints reserved to the connection API, keeping the connection", async () => {
    const { connectionId, record } = await seedConnection();
    const reserved = [
      "/disconnect",
      "/disconnect/",
      "/DISCONNECT",
      "/disconnect-entity",
      "/auth/token",
      "/connect/sessions",
    ];
    for (const path of reserved) {
      const res = await api(`${base(connectionId)}${path}`, { method: "POST", body: "{}" });
      await expectError(res, 400, "proxy_path_reserved");
    }
    expect(finch().sent).toEqual([]);
    expect(await rawRecord(connectionId)).toEqual(record);
    expect(finch().mock.connections.get(connectionId)?.disconnected).toBe(false);
  });

  it("keeps built URLs below the configured base, also when the base has a path", () => {
    expect(finchUrl("https://api.tryfinch.com", "/employer/company", "?a=1").href).toBe(
      "https://api.tryfinch.com/employer/company?a=1",
    );
    expect(finchUrl("http://127.0.0.1:8788/finch", "/employer/company", "").href).toBe(
      "http://127.0.0.1:8788/finch/employer/company",
    );
    for (const path of ["/../x", "/a/./b", "/a/..", "/%2e%2e/x", "/a%2F..", "/a\\b", "/a//b", "/javascript:x"]) {
      expect(() => finchUrl("http://127.0.0.1:8788/finch", path, ""), path).toThrow();
    }
    // The parsed base is remembered per value: another base is parsed anew, never reused.
    expect(finchUrl("https://api.tryfinch.com/", "/employer/directory", "").href).toBe(
      "https://api.tryfinch.com/employer/directory",
    );
    expect(finchUrl("http://127.0.0.1:8788/finch/", "/employer/directory", "").href).toBe(
      "http://127.0.0.1:8788/finch/employer/directory",
    );
  });

  it("refuses without a key, for an unknown or malformed connection, and for odd methods", async () => {
    const { connectionId } = await seedConnection();
    await expectError(await call(`${base(connectionId)}/employer/company`), 401, "unauthorized");
    await expectError(
      await api(`${base("33333333-3333-4333-8333-333333333333")}/employer/company`),
      404,
      "connection_not_found",
    );
    await expectError(await api(`${base("bad$id")}/employer/company`), 400, "param_invalid");
    const options = await api(`${base(connectionId)}/employer/company`, { method: "OPTIONS" });
    await expectError(options, 405, "method_not_allowed");
    expect(options.headers.get("allow")).toContain("GET");
    expect(finch().sent).toEqual([]);
  });

  it("answers Finch being unreachable with finch_unavailable", async () => {
    const { connectionId } = await seedConnection();
    finch().override("GET /employer/company", () => {
      throw new TypeError("connection refused");
    });
    const res = await api(`${base(connectionId)}/employer/company`);
    await expectError(res, 502, "finch_unavailable");
    await expectNoSecrets(res);
    expect(finch().sent).toHaveLength(1);
  });
});
