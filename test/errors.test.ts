import { expect, it } from "vitest";
import doc from "../docs/errors.md?raw";
import { AppError, ConfigError, ERRORS } from "../src/errors";

/** docs/errors.md is the operator's table: every code in src/errors.ts, with its status, and nothing stale. */
it("docs/errors.md lists every error code with its status", () => {
  const rows = new Map<string, number>();
  for (const match of doc.matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\|/gm)) rows.set(match[1]!, Number(match[2]));
  const expected = new Map(Object.entries(ERRORS).map(([code, { status }]) => [code, status]));
  expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
});

/** An AppError is an answer, not a crash: built without a stack trace (its cost is in every 4xx). */
it("builds AppErrors without a stack trace, and leaves other errors theirs", () => {
  const framesOf = (e: Error) => (e.stack ?? "").split("\n").filter((line) => line.trim().startsWith("at ")).length;
  const nested = (depth: number): Error[] =>
    depth === 0 ? [new AppError("not_found", "detail"), new ConfigError("API_KEYS", "is missing")] : nested(depth - 1);
  const [app, config] = nested(5);
  expect(app).toBeInstanceOf(AppError);
  expect(app?.message).toBe(ERRORS.not_found.message);
  expect(framesOf(app as Error)).toBe(0);
  expect(framesOf(config as Error)).toBe(0);
  // The limit is restored: errors built after one still carry their frames.
  expect(framesOf(new Error("a bug"))).toBeGreaterThan(0);
});
