import { exports, WorkerEntrypoint } from "cloudflare:workers";
import { expect, it } from "vitest";
import apiDoc from "../docs/api.md?raw";
import { FinchConnections } from "../src/rpc";
import { finch } from "./support/finch";
import { seedConnection } from "./support/fixtures";

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

function callableOverRpc(): string[] {
  const names = new Set<string>();
  for (
    let proto: object | null = FinchConnections.prototype;
    proto && proto !== WorkerEntrypoint.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== "constructor") names.add(name);
  }
  return [...names].sort();
}

it("the entrypoint exposes exactly the documented RPC methods", () => {
  const documented = documentedMethods();
  expect(documented).toEqual([
    "disconnect",
    "fetchFinch",
    "getAccessToken",
    "getConnection",
    "introspect",
    "listConnections",
  ]);
  expect(callableOverRpc()).toEqual(documented);
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
