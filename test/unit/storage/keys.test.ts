import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONNECTION_PREFIX,
  connectionIdOfKey,
  connectionKey,
  customerIndexKey,
  customerPrefix,
} from "../../../src/storage/keys";

/**
 * KV key formats (src/storage/keys.ts, docs/storage-schema.md). A format change is a data
 * migration (the sealed token's AAD is the record key), so the formats are pinned here.
 */
describe("connection keys", () => {
  it("are conn:<id>, and give their id back", () => {
    expect(CONNECTION_PREFIX).toBe("conn:");
    expect(connectionKey("abc_123-XYZ")).toBe("conn:abc_123-XYZ");
    for (const id of ["a", "abc_123-XYZ", "f47ac10b-58cc-4372-a567-0e02b2c3d479"]) {
      expect(connectionIdOfKey(connectionKey(id))).toBe(id);
    }
  });

  it("an index key gives back its connection id", async () => {
    const key = await customerIndexKey("cust-1", "2024-05-01T10:00:00.000Z", "conn_9");
    expect(connectionIdOfKey(key)).toBe("conn_9");
  });
});

describe("customerPrefix", () => {
  it("is cust:<first 32 hex digits of sha256(customer id)>:", async () => {
    // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    expect(await customerPrefix("abc")).toBe("cust:ba7816bf8f01cfea414140de5dae2223:");
    expect(await customerPrefix("customer-with-a-long-name")).toMatch(/^cust:[0-9a-f]{32}:$/);
  });

  it("is the same for the same customer and differs between customers", async () => {
    expect(await customerPrefix("acme")).toBe(await customerPrefix("acme"));
    const ids = ["acme", "Acme", "acme ", "acm", "acme:1", ""];
    const prefixes = await Promise.all(ids.map(customerPrefix));
    expect(new Set(prefixes).size).toBe(ids.length);
  });

  it("contains no part of the raw customer id", async () => {
    const id = "customer-zz-secretish";
    const prefix = await customerPrefix(id);
    expect(prefix).not.toContain("secretish");
    expect(prefix).not.toContain(id);
  });
});

describe("customerIndexKey", () => {
  it("starts with its customer's prefix, and not with another's", async () => {
    const key = await customerIndexKey("acme", "2024-05-01T10:00:00.000Z", "c1");
    expect(key.startsWith(await customerPrefix("acme"))).toBe(true);
    expect(key.startsWith(await customerPrefix("acm"))).toBe(false);
    expect(key).toMatch(/^cust:[0-9a-f]{32}:[0-9]{13}:c1$/);
  });

  it("sorts newest first by createdAt, to the millisecond", async () => {
    const times = [
      "2001-09-09T01:46:40.000Z",
      "2024-05-01T10:00:00.000Z",
      "2024-05-01T10:00:00.001Z",
      "2099-12-31T23:59:59.999Z",
    ];
    const keys = await Promise.all(times.map((t) => customerIndexKey("acme", t, "c")));
    expect([...keys].sort()).toEqual([...keys].reverse());
  });

  it("orders any two creation times, newest first (property)", async () => {
    const from = Date.parse("2001-09-09T01:46:40.000Z");
    const to = Date.parse("2200-01-01T00:00:00.000Z");
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: from, max: to }), fc.integer({ min: from, max: to }), async (a, b) => {
        const ka = await customerIndexKey("acme", new Date(a).toISOString(), "c");
        const kb = await customerIndexKey("acme", new Date(b).toISOString(), "c");
        // KV lists keys in byte order; these keys are ASCII, so string order is byte order.
        expect(ka < kb).toBe(a > b);
        expect(ka === kb).toBe(a === b);
      }),
      { numRuns: 300 },
    );
  });
});
