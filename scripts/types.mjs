#!/usr/bin/env node
// `npm run types`: writes worker-configuration.d.ts, the Worker's bindings as `wrangler types`
// generates them from wrangler.toml and wrangler.state.toml (vars, KV, Queues, Durable Objects with their classes) and
// from the names in .dev.vars.example (secrets and optional vars that wrangler.toml does not hold).
// src/env.ts makes every one optional (config.ts checks them). Runtime types come from
// @cloudflare/workers-types, so only the bindings are generated.
//
// `npm run types -- --check` (CI, `npm run typecheck`): regenerates and compares the whole file,
// then puts the committed one back; exits 1 when they differ. `wrangler types --check` alone only
// compares the hash in the header, which a hand edit of the file keeps.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WRANGLER_BIN, wranglerEnv } from "./lib/dev-server.mjs";
import { REPO_ROOT } from "./lib/dev-vars.mjs";

const TYPES_FILE = "worker-configuration.d.ts";
const ARGS = [
  "types",
  // Both Workers' configs: the first is the public Worker's, whose Env this writes; the second
  // lets wrangler type its script_name Durable Object bindings with the state Worker's classes.
  "--config=wrangler.toml",
  "--config=wrangler.state.toml",
  "--env-interface=WorkerBindings",
  "--include-runtime=false",
  "--strict-vars=false",
  "--env-file=.dev.vars.example",
];

const check = process.argv.includes("--check");
const path = join(REPO_ROOT, TYPES_FILE);
const read = () => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
};

const before = read();
const run = spawnSync(WRANGLER_BIN, ARGS, { cwd: REPO_ROOT, env: wranglerEnv(), encoding: "utf8" });
if (run.status !== 0) {
  process.stderr.write(run.stdout + run.stderr);
  if (check && before !== null) writeFileSync(path, before);
  process.exit(1);
}
const after = read();
if (!check) {
  console.log(before === after ? `${TYPES_FILE}: unchanged` : `${TYPES_FILE}: written`);
} else if (before === after) {
  console.log(`${TYPES_FILE}: up to date with wrangler.toml and .dev.vars.example`);
} else {
  if (before !== null) writeFileSync(path, before);
  console.error(
    `${TYPES_FILE} is not what \`wrangler types\` generates from wrangler.toml and .dev.vars.example:` +
      " run `npm run types` and commit the result (never edit the file by hand).",
  );
  process.exit(1);
}
