import { expect, it } from "vitest";
import doc from "../docs/errors.md?raw";
import { ERRORS } from "../src/errors";

/** docs/errors.md is the operator's table: every code in src/errors.ts, with its status, and nothing stale. */
it("docs/errors.md lists every error code with its status", () => {
  const rows = new Map<string, number>();
  for (const match of doc.matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\|/gm)) rows.set(match[1]!, Number(match[2]));
  const expected = new Map(Object.entries(ERRORS).map(([code, { status }]) => [code, status]));
  expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
});
