// Starting a bench subject: its workerd (via serve.mjs) with throwaway secrets, the vars the
// production Worker needs, and customers connected through its own callback.
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import workerd from "workerd";
import { freePort, wranglerEnv } from "../../scripts/lib/dev-server.mjs";
import { childPids, startJsonChild } from "./procs.mjs";
import { CUSTOMERS, connectOne, LISTING_SIZE } from "./scenarios.mjs";

/** Throwaway secrets for one run: never the developer's .dev.vars. */
export const generateSecrets = () => ({
  FINCH_CLIENT_ID: randomUUID(),
  FINCH_CLIENT_SECRET: randomBytes(32).toString("base64url"),
  TICKET_SECRET: randomBytes(32).toString("base64url"),
  ENCRYPTION_KEYS: `bench1:${randomBytes(32).toString("base64")}`,
  API_KEYS: `fce_bench_${randomBytes(24).toString("base64url")}`,
  WEBHOOK_SECRETS: randomBytes(32).toString("base64"),
});

/** What `name` ("ours" or "bare") runs with: ours also gets the vars of its wrangler.toml. */
export const subjectBindings = (name, build, secrets, upstream, callbackOrigin) => ({
  ...(name === "ours" ? build.config.vars : {}),
  ...secrets,
  FINCH_API_BASE_URL: upstream,
  FINCH_REDIRECT_URI: `${callbackOrigin}/callback`,
  SUCCESS_URL: "http://127.0.0.1/connected",
  ALLOWED_RETURN_ORIGINS: "http://127.0.0.1",
});

/**
 * Our Worker's timed and counted copies (see serve.mjs), its Durable Objects bound as
 * wrangler.toml binds them. Split in two, each copy has its own state Worker ("<copy>-state"),
 * the same bindings and secrets, the same KV namespace, which defines the objects the public one
 * binds by script name; the counted copy adds the state Worker's counters to its own.
 */
function oursWorkers(build, bundlePath) {
  const { durableObjects = [], state } = build.config;
  const objects = (bindings, stateWorker) =>
    bindings.map((b) => {
      // The bench serves the objects of the state Worker only, not of any other script.
      if (b.script_name && b.script_name !== state?.name) {
        throw new Error(`ours: ${b.name} is bound to script "${b.script_name}", which the bench does not run`);
      }
      return { name: b.name, className: b.class_name, scriptName: b.script_name && stateWorker };
    });
  return ["timed", "counted"].flatMap((copy) => {
    const counting = copy === "counted";
    if (!state) return [{ name: copy, bundlePath, counting, durableObjects: objects(durableObjects) }];
    const stateWorker = `${copy}-state`;
    return [
      {
        name: copy,
        bundlePath,
        counting,
        durableObjects: objects(durableObjects, stateWorker),
        stateCounts: counting ? stateWorker : undefined,
      },
      {
        name: stateWorker,
        bundlePath: build.state.bundlePath,
        counting,
        durableObjects: objects(state.durableObjects, stateWorker),
        kv: copy,
        socket: false,
      },
    ];
  });
}

/**
 * What Miniflare starts as workerd (MINIFLARE_WORKERD_PATH) when the Workers' console output is
 * discarded: a script in the run's temp dir that runs the real binary with its stdout on
 * /dev/null. Each console.log is still written by workerd (a write(2)), but no process reads it.
 * Without this, Miniflare 5's Node process wakes for every line and parses it (JSON.parse and its
 * message classifiers) on the cores the load shares: work production does not have, charged to
 * ours alone (bare logs nothing). workerd's stderr, where it reports its own failures, still goes
 * to Miniflare. POSIX only (a shell script): undefined on Windows, or when `dir` cannot run it.
 */
export function quietWorkerd(dir) {
  if (process.platform === "win32") return undefined;
  const path = join(dir, "workerd-stdout-null");
  const bin = `'${workerd.default.replaceAll("'", `'\\''`)}'`;
  writeFileSync(path, `#!/bin/sh\nexec ${bin} "$@" >/dev/null\n`, { mode: 0o700 });
  // A temp dir mounted noexec (some hardened /dev/shm or /tmp) cannot run it: then Miniflare's own.
  const probe = spawnSync(path, ["--version"], { stdio: "ignore", timeout: 10_000 });
  return probe.status === 0 ? path : undefined;
}

/**
 * Starts `name` ("ours" or "bare") from `build` (see build.mjs) in its own workerd.
 * `helpers` are extra workers for the same process, e.g. { kvcal: path, steps: path }.
 * `workerdPath`: quietWorkerd()'s script, or undefined for Miniflare's own workerd (the Workers'
 * output then parsed by Miniflare and dropped by serve.mjs).
 */
export async function startSubject({
  name,
  build,
  secrets,
  upstream,
  tmp,
  preferredPort,
  helpers = {},
  oursBindings = {},
  workerdPath,
}) {
  const ports = { timed: await freePort(preferredPort), counted: await freePort(preferredPort + 1) };
  const bindings = {
    ...subjectBindings(name, build, secrets, upstream, `http://127.0.0.1:${ports.timed}`),
    ...(name === "ours" ? oursBindings : {}),
  };
  const bundlePath = build[name].bundlePath;
  const input = JSON.stringify({
    persistDir: join(tmp, `kv-${name}`),
    compatibilityDate: build.config.compatibilityDate,
    compatibilityFlags: build.config.compatibilityFlags,
    bindings,
    ports,
    workers: [
      ...(name === "ours"
        ? oursWorkers(build, bundlePath)
        : [
            { name: "timed", bundlePath },
            { name: "counted", bundlePath, counting: true },
          ]),
      ...Object.entries(helpers).map(([helper, path]) => ({ name: helper, bundlePath: path })),
    ],
  });
  const child = await startJsonChild(`serve:${name}`, join(import.meta.dirname, "serve.mjs"), [], {
    input,
    env: wranglerEnv(workerdPath ? { MINIFLARE_WORKERD_PATH: workerdPath } : {}),
  });
  let workerd = [];
  for (let i = 0; i < 50 && workerd.length === 0; i++) {
    workerd = childPids(child.pid, "workerd");
    if (workerd.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  if (workerd.length === 0) throw new Error(`serve:${name}: no workerd process found`);
  return { name, child, workerd, urls: child.ready, seeds: {} };
}

/** Connects customers through the subject's own callback, as the scenarios expect. */
export async function seed(ctx, origin) {
  const proxyConnection = await connectOne(ctx, origin, CUSTOMERS.proxy);
  for (let i = 0; i < LISTING_SIZE; i++) await connectOne(ctx, origin, CUSTOMERS.listing);
  return { proxyConnection };
}
