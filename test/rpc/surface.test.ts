import { env, exports, RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import { expect, it } from "vitest";
import apiDoc from "../../docs/api.md?raw";
import { RPC_PRINCIPAL } from "../../src/access/principal";
import { FinchConnections, KeyConnections } from "../../src/rpc/entrypoint";
import { finch } from "../support/finch";
import { seedConnection } from "../support/fixtures";

/**
 * What a caller holding the service binding can invoke. Workers RPC exposes every method on
 * the entrypoint's prototype chain below WorkerEntrypoint, whatever TypeScript calls private
 * (issue 9, finding 6: `run`, `deps` and `store` were reachable and took any arguments).
 * The surface must be exactly the methods docs/api.md documents.
 */
const rpc = exports.FinchConnections;

function documentedMethods(): string[] {
  const section = apiDoc.slice(apiDoc.indexOf("## Workers RPC"));
  return [...section.matchAll(/^\| `([A-Za-z]+)\(/gm)].map((m) => m[1] as string).sort();
}

function callableOverRpc(cls: { prototype: object } = FinchConnections, base: object = WorkerEntrypoint.prototype) {
  const names = new Set<string>();
  for (let proto: object | null = cls.prototype; proto && proto !== base; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== "constructor") names.add(name);
  }
  return [...names].sort();
}

it("the entrypoint exposes exactly the documented RPC methods", () => {
  const documented = documentedMethods();
  expect(documented).toEqual([
    "disconnect",
    "fetchFinch",
    "forKey",
    "getAccessToken",
    "getConnection",
    "introspect",
    "listConnections",
  ]);
  expect(callableOverRpc()).toEqual(documented);
});

it("a named key's stub (forKey) exposes the same methods but forKey, and no field", () => {
  const documented = documentedMethods().filter((m) => m !== "forKey");
  expect(callableOverRpc(KeyConnections, RpcTarget.prototype)).toEqual(documented);
  // Its env and principal are #private: not properties of the prototype nor of an instance.
  const stub = new KeyConnections(env, RPC_PRINCIPAL) as unknown as Record<string, unknown>;
  expect(Object.keys(stub)).toEqual([]);
});

it("helpers are not reachable through the binding", async () => {
  const { connectionId } = await seedConnection();
  const stub = rpc as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const attempts: Array<[string, unknown[]]> = [
    ["run", ["getAccessToken", connectionId, async () => "leak"]],
    ["deps", []],
    ["store", []],
    ["constructor", []],
  ];
  for (const [name, args] of attempts) {
    const outcome = await Promise.resolve()
      .then(() => stub[name]?.(...args))
      .then(
        (value) => ({ ok: true, value }),
        (e: unknown) => ({ ok: false, value: e instanceof Error ? e.message : String(e) }),
      );
    expect(outcome.ok, `${name} answered over RPC`).toBe(false);
  }
  // The documented surface still works.
  expect(await rpc.getConnection(connectionId)).toMatchObject({ connection_id: connectionId });
  expect(finch().sent).toEqual([]);
});
