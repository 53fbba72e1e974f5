#!/usr/bin/env node
// Hosts one bench subject in workerd through Miniflare (the same runtime and library that
// `wrangler dev` uses), started by bench/run.mjs in its own process group.
//
// Several workers in one workerd process, each on its own direct socket (workerd's HTTP
// socket straight to the Worker: no Miniflare entry worker or wrangler proxy in the path),
// each with its own KV namespace under a fresh temp dir, so every one starts empty:
// - "timed":   the subject's bundle exactly as `wrangler deploy --dry-run` wrote it;
// - "counted": the same bundle behind counting-entry.js, which counts KV calls;
// - optional helpers (KV calibration, step costs) given by the bench.
// Ours split in two (wrangler.state.toml) also has "timed-state" and "counted-state": the state
// Worker's bundle, no socket, the Durable Object classes the public one binds by script name,
// and the same KV namespace as its public Worker (one id, one store), as in production.
//
// The configuration arrives as one JSON document on stdin (secrets never go on a command
// line, where `ps` would show them). Prints {"<worker name>": "<origin>", ...} once ready.
// The Workers' output (our request log lines) is read and dropped: writing it is part of the
// cost measured, printing it is not; the last stderr lines are kept for a failure message.
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const config = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const countingEntry = readFileSync(join(import.meta.dirname, "counting-entry.js"), "utf8");
const tail = [];

/** The counting entry's subclass of each Durable Object class this worker defines (see counting-entry.js). */
const classes = (objects) =>
  [...new Set(objects.filter((o) => !o.scriptName).map((o) => o.className))]
    .map(
      (c) =>
        `export class ${c} extends modules.${c} {\n  constructor(ctx, env) {\n    super(${c === "ConnectionWriter" ? "wrapWriterCtx(ctx)" : "ctx"}, wrapEnv(env));\n  }\n}\n`,
    )
    .join("");

/**
 * `durableObjects`: [{ name, className, scriptName? }], scriptName naming the worker (here) that
 * defines the class; `kv`: the CONNECTIONS namespace id (default: the worker's name); `socket`:
 * false for a worker reached only through bindings; `stateCounts`: the worker whose counters
 * counting-entry.js adds to its own (service binding BENCH_STATE_COUNTS).
 */
function worker({ name, bundlePath, counting = false, durableObjects = [], kv = name, socket = true, stateCounts }) {
  const root = dirname(bundlePath);
  const bundle = readFileSync(bundlePath, "utf8");
  const modules = counting
    ? [
        { type: "ESModule", path: join(root, "counting-entry.js"), contents: countingEntry + classes(durableObjects) },
        { type: "ESModule", path: join(root, "subject.js"), contents: bundle },
      ]
    : [{ type: "ESModule", path: join(root, basename(bundlePath)), contents: bundle }];
  return {
    name,
    modules,
    modulesRoot: root,
    compatibilityDate: config.compatibilityDate,
    compatibilityFlags: config.compatibilityFlags,
    bindings: config.bindings,
    kvNamespaces: { CONNECTIONS: kv },
    // The production Worker's Durable Objects (its wrangler.toml bindings), SQLite-backed.
    durableObjects: Object.fromEntries(
      durableObjects.map((o) => [o.name, { className: o.className, scriptName: o.scriptName, useSQLite: true }]),
    ),
    ...(stateCounts ? { serviceBindings: { BENCH_STATE_COUNTS: stateCounts } } : {}),
    ...(socket ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: config.ports?.[name] ?? 0 }] } : {}),
  };
}

// Miniflare 5 takes its options in a new shape; convertV4MiniflareOptions (its own adapter) maps
// the per-worker options above, which are the 4.x ones. KV and Durable Objects persist under one
// directory now, and workerd's output arrives as structured log lines instead of raw stdio.
const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: 0,
    resourcePersistencePath: config.persistDir,
    handleStructuredLogs({ level, message }) {
      if (level !== "error" && level !== "warn") return;
      tail.push(`${message}\n`);
      if (tail.length > 20) tail.shift();
    },
    workers: config.workers.map(worker),
  }),
);

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await mf.dispose().catch(() => {});
  process.exit(code);
}
process.on("SIGTERM", () => void stop(0));
process.on("SIGINT", () => void stop(0));

try {
  await mf.ready;
  const urls = {};
  for (const { name, socket = true } of config.workers) {
    if (socket) urls[name] = (await mf.unsafeGetDirectURL(name)).origin;
  }
  process.stdout.write(`${JSON.stringify(urls)}\n`);
} catch (error) {
  process.stderr.write(`serve: ${error instanceof Error ? error.message : String(error)}\n${tail.join("")}`);
  await stop(1);
}
