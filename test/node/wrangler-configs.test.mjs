import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { experimental_readRawConfig } from "wrangler";

/**
 * The two Workers (wrangler.toml: the public one; wrangler.state.toml: its Durable Objects)
 * are deployed from one tree and must agree: the tests run them as one script
 * (test/support/entry.ts), so only this keeps the configs in step.
 */
const read = (config) =>
  experimental_readRawConfig({ config: new URL(`../../${config}`, import.meta.url).pathname }).rawConfig;
const edge = read("wrangler.toml");
const state = read("wrangler.state.toml");
const exported = (entry) => {
  const text = readFileSync(new URL(`../../${entry}`, import.meta.url), "utf8");
  return new Set([...text.matchAll(/export \{ (\w+) \}/g)].map((m) => m[1]));
};

describe("wrangler.toml and wrangler.state.toml", () => {
  it("bind every Durable Object of the public Worker to a class the state Worker exports, by script_name", () => {
    const classes = exported(state.main);
    const bindings = edge.durable_objects?.bindings ?? [];
    expect(bindings.length).toBeGreaterThan(0);
    for (const b of bindings) {
      expect(b.script_name, b.name).toBe(state.name);
      expect(classes.has(b.class_name), b.class_name).toBe(true);
    }
    const own = (state.durable_objects?.bindings ?? []).map((b) => [b.name, b.class_name, b.script_name]);
    expect(own).toEqual(bindings.map((b) => [b.name, b.class_name, undefined]));
  });

  it("give the classes their migrations in the state Worker only, every class created exactly once", () => {
    expect(edge.migrations ?? []).toEqual([]);
    const created = (state.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []);
    expect([...created].sort()).toEqual([...exported(state.main)].sort());
    expect(exported(edge.main).has("ConnectionWriter")).toBe(false);
  });

  it("share [vars], the KV namespace, the queue producers and the compatibility settings", () => {
    expect(state.vars).toEqual(edge.vars);
    expect(state.kv_namespaces).toEqual(edge.kv_namespaces);
    expect(state.queues?.producers).toEqual(edge.queues?.producers);
    expect(state.compatibility_date).toBe(edge.compatibility_date);
    expect(state.compatibility_flags).toEqual(edge.compatibility_flags);
  });

  it("leave the state Worker without a public URL, a consumer or a trigger", () => {
    expect(state.workers_dev).toBe(false);
    expect(state.preview_urls).toBe(false);
    expect(state.routes ?? []).toEqual([]);
    expect(state.route).toBeUndefined();
    expect(state.queues?.consumers ?? []).toEqual([]);
    expect(state.triggers?.crons ?? []).toEqual([]);
  });
});
