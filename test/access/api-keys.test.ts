import { describe, expect, it } from "vitest";
import { parseApiKeys } from "../../src/access/api-keys";
import type { Env } from "../../src/env";
import { ConfigError } from "../../src/errors";
import { expectError } from "../support/assert";
import { API_KEY } from "../support/http";
import { workerWith } from "../support/worker";

/**
 * API_KEYS in its JSON form: every malformed entry is config_invalid naming the setting and the
 * entry's index, never a key, a name or any other text of the value. Bare keys parse as before.
 */
const KEY = "fce_config_key_0123456789abcdefghij";
const OTHER = "fce_config_other_0123456789abcdefgh";

function problem(value: string): string {
  try {
    parseApiKeys({ API_KEYS: value } as Env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const error = e as ConfigError;
    expect(error.setting).toBe("API_KEYS");
    return error.problem;
  }
  throw new Error("expected a ConfigError");
}

describe("API_KEYS as a JSON array", () => {
  it("parses names, scopes and customers; no scopes means every scope", () => {
    const keys = parseApiKeys({
      API_KEYS: JSON.stringify([
        { name: "billing", key: KEY, scopes: ["connections:read", "proxy"], customers: ["acme", "acme"] },
        { name: "ops.v2", key: OTHER },
      ]),
    } as Env);
    expect(keys.map((k) => ({ ...k, scopes: [...k.scopes], customers: k.customers && [...k.customers] }))).toEqual([
      { name: "billing", key: KEY, scopes: ["connections:read", "proxy"], customers: ["acme"] },
      {
        name: "ops.v2",
        key: OTHER,
        scopes: ["connections:read", "connections:write", "proxy", "token", "events", "admin"],
        customers: undefined,
      },
    ]);
  });

  it("a key limited to customers and listing no scopes gets every scope but events and admin", () => {
    const [key] = parseApiKeys({ API_KEYS: JSON.stringify([{ name: "acme", key: KEY, customers: ["acme"] }]) } as Env);
    expect([...(key?.scopes ?? [])]).toEqual(["connections:read", "connections:write", "proxy", "token"]);
  });

  it("bare keys keep every scope and customer, with no name", () => {
    const keys = parseApiKeys({ API_KEYS: `${KEY}, ${OTHER}` } as Env);
    expect(keys.map((k) => [k.name, k.key, k.scopes.size, k.customers])).toEqual([
      [undefined, KEY, 6, undefined],
      [undefined, OTHER, 6, undefined],
    ]);
  });

  const entry = (over: Record<string, unknown>) => ({ name: "svc", key: KEY, ...over });
  it.each([
    ["not JSON", `[{"name":"svc","key":"${KEY}"`, "starts with [ but is not valid JSON"],
    ["an empty array", "[]", "must be a non-empty JSON array of keys"],
    ["an entry that is not an object", JSON.stringify([KEY]), "entry [0]: must be an object"],
    ["a missing name", JSON.stringify([{ key: KEY }]), "entry [0]: name is missing"],
    ["a missing key", JSON.stringify([{ name: "svc" }]), "entry [0]: key is missing"],
    ["a name with capitals", JSON.stringify([entry({ name: "Billing" })]), "entry [0]: name must be"],
    ["a name with a space", JSON.stringify([entry({ name: "a b" })]), "entry [0]: name must be"],
    ["a name of 65 characters", JSON.stringify([entry({ name: "a".repeat(65) })]), "entry [0]: name must be"],
    ["a key of 23 characters", JSON.stringify([entry({ key: KEY.slice(0, 23) })]), "entry [0]: key must be"],
    ["a key with a quote", JSON.stringify([entry({ key: `${KEY}"` })]), "entry [0]: key must be"],
    ["an unknown scope", JSON.stringify([entry({ scopes: ["connections:delete"] })]), "entry [0]: scopes must be"],
    ["empty scopes", JSON.stringify([entry({ scopes: [] })]), "entry [0]: scopes must be"],
    ["empty customers", JSON.stringify([entry({ customers: [] })]), "entry [0]: customers must be"],
    ["a customer with a newline", JSON.stringify([entry({ customers: ["a\nb"] })]), "entry [0]: customers must be"],
    ["an unknown field", JSON.stringify([entry({ scope: ["proxy"] })]), "entry [0]: has an unknown field"],
    ["a key as a field name", JSON.stringify([entry({ [OTHER]: 1 })]), "entry [0]: has an unknown field"],
    [
      "a repeated name",
      JSON.stringify([entry({}), entry({ key: OTHER })]),
      "entry [1]: name is used by an earlier entry",
    ],
    [
      "a repeated key",
      JSON.stringify([entry({}), entry({ name: "svc2" })]),
      "entry [1]: key is used by an earlier entry",
    ],
    [
      "customers with admin",
      JSON.stringify([entry({ customers: ["acme"], scopes: ["admin"] })]),
      "entry [0]: a key limited to customers cannot have events or admin",
    ],
  ])("%s: config_invalid naming the entry, never its text", (_, value, expected) => {
    const text = problem(value);
    expect(text.startsWith(expected), text).toBe(true);
    for (const secret of [KEY, OTHER, KEY.slice(0, 23), "Billing", "connections:delete", "svc"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("over HTTP: 500 config_invalid naming API_KEYS and the entry, not the key", async () => {
    const worker = workerWith({ API_KEYS: JSON.stringify([{ name: "svc", key: KEY, scopes: ["nope"] }]) });
    const res = await worker("/api/connections", { headers: { authorization: `Bearer ${KEY}` } });
    const body = await expectError(res, 500, "config_invalid");
    expect(body.error.message).toContain("API_KEYS entry [0]: scopes must be");
    expect(await res.clone().text()).not.toContain(KEY);
  });

  it("over HTTP: a JSON value that does not parse fails closed for every key, bare ones too", async () => {
    const worker = workerWith({ API_KEYS: `[${API_KEY}` });
    const res = await worker("/api/connections", { headers: { authorization: `Bearer ${API_KEY}` } });
    await expectError(res, 500, "config_invalid");
    expect(await res.clone().text()).not.toContain(API_KEY);
  });
});
