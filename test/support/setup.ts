import { afterEach, beforeEach, expect, vi } from "vitest";
import { finch, installFinch } from "./finch";

beforeEach(() => {
  installFinch();
});

afterEach(() => {
  const unhandled = finch().unhandled;
  vi.restoreAllMocks();
  expect(unhandled, "unhandled outbound requests").toEqual([]);
});
