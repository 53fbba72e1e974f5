import fc from "fast-check";
import { UnsupportedPathError } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import type { RouterRoute } from "hono/types";
import { expect, it } from "vitest";
import { app } from "../src/app";
import { ExactRouter } from "../src/http/router";
import { propertyTimeout, runProperty } from "./support/property";

/**
 * The Worker routes with its own ExactRouter (src/http/router.ts) to keep the bundle small.
 * It must route exactly as Hono's default router did (RegExpRouter, which Hono's SmartRouter
 * picked for these routes): the same handlers, in the same order, with the same parameters,
 * for every method and path. Both routers get every route of the real app.
 */
type Handler = [unknown, RouterRoute];
const reference = new RegExpRouter<Handler>();
const exact = new ExactRouter<Handler>();
for (const r of app.routes) {
  reference.add(r.method, r.path, [r.handler, r]);
  exact.add(r.method, r.path, [r.handler, r]);
}

/** Handlers as "METHOD path" of their route, with the parameters each one sees. */
function resolved(router: "reference" | "exact", method: string, path: string) {
  const [handlers, stash] = (router === "reference" ? reference : exact).match(method, path) as [
    [Handler, Record<string, string | number>][],
    string[]?,
  ];
  return handlers.map(([[, route], params]) => [
    `${route.method} ${route.path}`,
    Object.fromEntries(Object.entries(params).map(([k, v]) => [k, stash ? stash[v as number] : v])),
  ]);
}

const WORDS = ["api", "connections", "finch", "token", "introspect", "admin", "reencrypt", "callback", "connect"];
const segment = fc.oneof(
  fc.constantFrom(
    ...WORDS,
    "session",
    "healthz",
    "webhooks",
    "employer",
    "company",
    "",
    ".",
    "x",
    "a b",
    "%",
    ":id",
    "*",
  ),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
  fc.string({ maxLength: 6 }).filter((s) => !s.includes("/")),
);
const path = fc
  .tuple(
    fc.constantFrom("", "/api", "/api/connections", "/api/connections/abc"),
    fc.array(segment, { maxLength: 5 }),
    fc.boolean(),
  )
  .map(([prefix, rest, slash]) => `${prefix}/${rest.join("/")}${slash ? "/" : ""}`.replace(/^\/\//, "/"));
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "QUERY", "TRACE"];

it(
  "ExactRouter routes every method and path as Hono's RegExpRouter does",
  async () => {
    const known = app.routes.map((r) => r.path.replace(":connection_id", "c0nn-1").replace("*", "rest/of/it"));
    for (const p of [...known, ...known.map((k) => `${k}/`), "/", "//", "/api", "/api/"]) {
      for (const method of METHODS) expect(resolved("exact", method, p)).toEqual(resolved("reference", method, p));
    }
    await runProperty(
      "routing (vs RegExpRouter)",
      fc.asyncProperty(path, fc.constantFrom(...METHODS), async (p, method) => {
        expect(resolved("exact", method, p)).toEqual(resolved("reference", method, p));
      }),
    );
  },
  propertyTimeout(2),
);

it("a trailing slash is another path; route syntax the Worker does not use is refused", () => {
  const router = new ExactRouter<string>();
  router.add("DELETE", "/api/connections/:connection_id", "delete");
  router.add("ALL", "/api/*", "api");
  expect(router.match("DELETE", "/api/connections/abc")[0]).toEqual([
    ["delete", { connection_id: "abc" }],
    ["api", {}],
  ]);
  expect(router.match("DELETE", "/api/connections/abc/")[0]).toEqual([["api", {}]]);
  expect(router.match("GET", "/api")[0]).toEqual([["api", {}]]);
  expect(router.match("GET", "/apix")[0]).toEqual([]);
  for (const unsupported of ["/a/:id?", "/a/*/b", "/a/:id{[0-9]+}", "/a/(b)"]) {
    expect(() => router.add("GET", unsupported, "x")).toThrow(UnsupportedPathError);
  }
});
