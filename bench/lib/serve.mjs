#!/usr/bin/env node
// Hosts one bench subject in workerd through Miniflare (the same runtime and library that
// `wrangler dev` uses), started by bench/run.mjs in its own process group.
//
// Two workers in one workerd process, each on its own direct socket (workerd's HTTP socket
// straight to the Worker, no Miniflare entry worker or wrangler proxy in the path):
// - "timed":   the subject's bundle exactly as `wrangler deploy --dry-run` wrote it;
// - "counted": the same bundle behind counting-entry.js, which counts KV calls.
// Each has its own KV namespace, persisted under a fresh temp dir, so both start empty.
//
// The configuration arrives as one JSON document on stdin (secrets never go on a command
// line, where `ps` would show them). Prints {"timed": url, "counted": url} once ready.
// The Worker's output (our request log lines) is read and dropped: it is part of the cost
// measured, not something to print; the last stderr lines are kept for a failure message.
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Miniflare } from "miniflare";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const config = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const bundle = readFileSync(config.bundlePath, "utf8");
const countingEntry = readFileSync(join(import.meta.dirname, "counting-entry.js"), "utf8");
const root = config.modulesRoot;
const tail = [];

const common = {
  compatibilityDate: config.compatibilityDate,
  compatibilityFlags: config.compatibilityFlags,
  bindings: config.bindings,
  modulesRoot: root,
};

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: config.persistDir,
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.on("data", (data) => {
      tail.push(String(data));
      if (tail.length > 20) tail.shift();
    });
  },
  workers: [
    {
      ...common,
      name: "timed",
      modules: [{ type: "ESModule", path: join(root, basename(config.bundlePath)), contents: bundle }],
      kvNamespaces: { CONNECTIONS: "timed" },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: config.port ?? 0 }],
    },
    {
      ...common,
      name: "counted",
      modules: [
        { type: "ESModule", path: join(root, "counting-entry.js"), contents: countingEntry },
        { type: "ESModule", path: join(root, "subject.js"), contents: bundle },
      ],
      kvNamespaces: { CONNECTIONS: "counted" },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: config.countPort ?? 0 }],
    },
  ],
});

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
  const timed = await mf.unsafeGetDirectURL("timed");
  const counted = await mf.unsafeGetDirectURL("counted");
  process.stdout.write(`${JSON.stringify({ timed: timed.origin, counted: counted.origin })}\n`);
} catch (error) {
  process.stderr.write(`serve: ${error instanceof Error ? error.message : String(error)}\n${tail.join("")}`);
  await stop(1);
}
