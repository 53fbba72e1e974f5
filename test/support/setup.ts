import { afterAll, afterEach, beforeEach, expect, vi } from "vitest";
import { finch, installFinch } from "./finch";
import { findLeaks, installLogCapture, markSecret } from "./logs";

installLogCapture();

beforeEach(() => {
  installFinch();
});

afterEach(() => {
  const harness = finch();
  for (const token of harness.mock.tokens.keys()) markSecret("an access token", token);
  const leaks = findLeaks();
  const unhandled = harness.unhandled;
  vi.restoreAllMocks();
  expect(unhandled, "unhandled outbound requests").toEqual([]);
  expect(leaks, "secrets in log lines (test/support/logs.ts)").toEqual([]);
});

// Lines written after the last test (late waitUntil work) are checked too.
afterAll(() => {
  expect(findLeaks(), "secrets in log lines (test/support/logs.ts)").toEqual([]);
});
