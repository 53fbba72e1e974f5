import { describe, expect, it } from "vitest";
import { AppError } from "../../../src/errors";
import { toProxyCall } from "../../../src/rpc/call";

/** RPC's fetchFinch argument, turned into the proxy's input (no binding, no Finch). */
function refused(input: unknown): string | undefined {
  try {
    toProxyCall(input);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe("param_invalid");
    return (e as AppError).detail;
  }
  return undefined;
}

describe("toProxyCall", () => {
  it("a plain object: GET by default, POST with a body, JSON for non-string bodies", async () => {
    const get = toProxyCall({ path: "/employer/directory", query: { limit: 5, types: ["a", "b"], on: true } });
    expect(get).toMatchObject({ method: "GET", path: "/employer/directory", body: null });
    expect(get.search).toBe("?limit=5&types=a&types=b&on=true");
    const post = toProxyCall({ path: "/employer/pay-statement", body: { requests: [] } });
    expect(post.method).toBe("POST");
    expect(post.body).toBe('{"requests":[]}');
    expect(post.headers.get("content-type")).toBe("application/json");
    expect(toProxyCall({ path: "/x", query: "a=1" }).search).toBe("?a=1");
    expect(toProxyCall({ method: "delete", path: "/x", body: "raw" })).toMatchObject({ method: "DELETE", body: "raw" });
  });

  it("a Request: its method, path, query and body; its origin ignored", () => {
    const call = toProxyCall(new Request("https://elsewhere.example/employer/company?x=1", { method: "GET" }));
    expect(call).toMatchObject({ method: "GET", path: "/employer/company", search: "?x=1" });
  });

  it.each([
    [null, "(root)"],
    ["/employer/company", "(root)"],
    [{}, "path"],
    [{ path: "" }, "path"],
    [{ path: "x".repeat(2049) }, "path"],
    [{ path: "/x", method: "GET /y" }, "method"],
    [{ path: "/x", query: 42 }, "query"],
    [{ path: "/x", query: { n: Number.NaN } }, "query"],
    // A sparse array: a hole is not a scalar.
    [{ path: "/x", query: { a: Object.assign(new Array(3), { 0: 1, 2: 3 }) } }, "query"],
    [{ path: "/x", query: { o: { nested: 1 } } }, "query"],
    [{ path: "/x", headers: null }, "headers"],
    [{ path: "/x", headers: { "x-n": 1 } }, "headers.x-n"],
  ])("refuses %j, naming %s", (input, field) => {
    const detail = refused(input);
    expect(detail).toBeDefined();
    expect(detail).toContain(field.split(".")[0] as string);
  });

  it("never copies __proto__, prototype or constructor keys from the caller's maps", () => {
    const query = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": "c", "a": "1"}');
    const headers = JSON.parse('{"__proto__": "x", "prototype": "y", "x-ok": "1"}');
    const call = toProxyCall({ path: "/x", query, headers });
    expect(call.search).toBe("?a=1");
    expect([...call.headers.keys()]).toEqual(["x-ok"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a body that cannot be JSON is refused", () => {
    const body: Record<string, unknown> = {};
    body.self = body;
    expect(refused({ path: "/x", body })).toContain("JSON");
  });
});
