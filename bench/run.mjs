#!/usr/bin/env node
// `npm run bench`: the production Worker ("ours") side by side with the floor ("bare",
// bench/bare/), same runtime, same requests, same upstream stand-in, all on 127.0.0.1.
//   node bench/run.mjs [--smoke] [--latency-ms N] [--concurrency N] [--only a,b] [--ours DIR] [--budget on|off]
//                      [--worker-stdout null|parsed]
// --smoke: a few requests per scenario, no targets; exits 0 when every scenario ran or was
// skipped and the public Worker's bundle is within its budget (48 KiB min+gzip,
// bench/lib/report.mjs; the state Worker's size is reported, not gated): CI runs this.
// --only: run only these scenarios ("cold" names the cold starts); --ours: bundle the production
// Worker from another checkout (its wrangler.toml's folder, and its wrangler.state.toml's Worker
// when it has one), for before/after figures of a change.
// --budget: the app-wide Finch rate budget in ours (default on, with limits the bench never
// reaches, so what is measured is the Durable Object round trip of every proxied call, not
// refusals); off: FINCH_RATE_BUDGET=off.
// --worker-stdout: where the subjects' console output goes. null (default): workerd writes each
// line to /dev/null, as the cold starts do; parsed: to Miniflare's Node process, which parses every
// line and drops it (what `wrangler dev` hosting does, and the bench before this option: a cost
// production does not have, on the cores the load shares; see bench/lib/subjects.mjs).
// How it works and how to read it: docs/performance.md. Bounded: under 2 minutes; stops every
// process it started, also on error and Ctrl-C.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildSubjects } from "./lib/build.mjs";
import { coldStarts } from "./lib/cold.mjs";
import { send } from "./lib/load.mjs";
import { calibrateKv, countRun, proxyLatency, stepCosts, timedRuns } from "./lib/passes.mjs";
import { killAllNow, startJsonChild, stopAll, stopChild } from "./lib/procs.mjs";
import * as report from "./lib/report.mjs";
import { makeContext, SCENARIOS } from "./lib/scenarios.mjs";
import { generateSecrets, quietWorkerd, seed, startSubject, subjectBindings } from "./lib/subjects.mjs";

const HERE = import.meta.dirname;
const { values: opts } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    "latency-ms": { type: "string", default: "0" },
    concurrency: { type: "string", default: "8" },
    only: { type: "string" },
    ours: { type: "string" },
    budget: { type: "string", default: "on" },
    "worker-stdout": { type: "string", default: "null" },
  },
});
if (opts.budget !== "on" && opts.budget !== "off") throw new Error("--budget must be on or off");
if (opts["worker-stdout"] !== "null" && opts["worker-stdout"] !== "parsed") {
  throw new Error("--worker-stdout must be null or parsed");
}
const only = opts.only ? new Set(opts.only.split(",")) : undefined;
const smoke = opts.smoke;
// Every pass is capped in both request count and time (ms).
const PLAN = smoke
  ? { warmMs: 200, warmMax: 10, runMs: 800, runMax: 30, countN: 3, latWarm: 3, latMs: 300, latMax: 20 }
  : { warmMs: 1000, warmMax: 3000, runMs: 4000, runMax: 6000, countN: 10, latWarm: 20, latMs: 1000, latMax: 500 };
Object.assign(
  PLAN,
  smoke
    ? { rounds: 1, calRounds: 1, calWarm: 5, calMax: 20, calMs: 500, stepK: 1, coldSamples: 2 }
    : { rounds: 6, calRounds: 5, calWarm: 50, calMax: 2500, calMs: 2500, stepK: 20, coldSamples: 15 },
  { concurrency: smoke ? 2 : Math.max(1, Math.min(64, Number(opts.concurrency) || 8)) },
);
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
let tmp;
let stopping = false;
let workerStdout = "parsed";

async function cleanup() {
  await stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${signal})`);
    void cleanup().then(() => process.exit(130));
  });
}
process.on("exit", killAllNow);

async function main() {
  const startedAt = Date.now();
  // KV's local simulator writes files: tmpfs keeps disk I/O out of the figures where it exists.
  tmp = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "fce-bench-"));
  log("bundling with wrangler deploy --dry-run ...");
  const build = await buildSubjects(tmp, opts.ours ? resolve(opts.ours) : undefined);
  const upstreamChild = await startJsonChild("upstream", join(HERE, "upstream.mjs"), [
    "--latency-ms",
    opts["latency-ms"],
  ]);
  const upstream = `http://127.0.0.1:${upstreamChild.ready.port}`;
  const secrets = generateSecrets();
  const ctx = makeContext(secrets);
  log("starting both subjects in workerd (Miniflare) ...");
  const helpers = { kvcal: join(HERE, "lib", "kv-calibrate.js"), steps: build.steps.bundlePath };
  const budget =
    opts.budget === "off"
      ? { FINCH_RATE_BUDGET: "off" }
      : { FINCH_RATE_BUDGET: "on", FINCH_RATE_LIMITS: "company=1000000,directory=1000000" };
  const workerdPath = opts["worker-stdout"] === "null" ? quietWorkerd(tmp) : undefined;
  if (workerdPath) workerStdout = "null";
  else if (opts["worker-stdout"] === "null")
    log("worker stdout: parsed by Miniflare (no script could run from the temp dir)");
  const common = { build, secrets, upstream, tmp, oursBindings: budget, workerdPath };
  const [bare, ours] = await Promise.all([
    startSubject({ ...common, name: "bare", preferredPort: 18710 }),
    startSubject({ ...common, name: "ours", preferredPort: 18720, helpers }),
  ]);
  for (const s of [bare, ours]) {
    s.seeds.timed = await seed(ctx, s.urls.timed);
    s.seeds.counted = await seed(ctx, s.urls.counted);
  }

  const results = { scenarios: {}, bundle: build.bundle };
  log("calibrating the local KV simulator's CPU per operation ...");
  results.kvUnitCost = await calibrateKv(ours.urls.kvcal, ours.workerd, PLAN);
  for (const scenario of SCENARIOS.filter((s) => !only || only.has(s.name))) {
    for (const s of scenario.prepare ? [bare, ours] : []) {
      for (const w of ["timed", "counted"]) Object.assign(s.seeds[w], await scenario.prepare(ctx, s.urls[w]));
    }
    const probe = await send(ours.urls.timed, scenario.make(ctx, ours.seeds.timed), { keepBody: true });
    if (probe.status === 404 && /"code":"not_found"/.test(probe.body ?? "")) {
      console.log(`skipped: ${scenario.route} not available`);
      results.scenarios[scenario.name] = { skipped: true, route: scenario.route };
      continue;
    }
    log(`${scenario.name}: timed (bare and ours taking turns) and counting passes ...`);
    const entry = { route: scenario.route, subjects: {}, counts: {} };
    entry.subjects = await timedRuns([bare, ours], scenario, ctx, upstream, PLAN);
    for (const s of [bare, ours]) entry.counts[s.name] = await countRun(s, scenario, ctx, upstream, PLAN);
    results.scenarios[scenario.name] = entry;
    if (scenario.name === "proxy") {
      results.proxyLatency = await proxyLatency([bare, ours], scenario, ctx, upstream, PLAN);
    }
  }
  log("measuring the CPU of single hot-path steps ...");
  results.steps = await stepCosts(ours.urls.steps, ours.workerd, PLAN, ctx);
  // After the load passes (which share this machine with the warm subjects): stop them first.
  await Promise.all([stopChild(bare.child), stopChild(ours.child)]);
  if (!only || only.has("cold")) {
    log(`cold starts: ${PLAN.coldSamples} fresh workerd processes per subject, alternating ...`);
    results.coldStart = await coldStarts({
      subjects: ["bare", "ours"].map((name) => ({
        name,
        bundlePath: build[name].bundlePath,
        bindings: subjectBindings(name, build, secrets, upstream, "http://127.0.0.1:1"),
        durableObjects: name === "ours" ? (build.config.durableObjects ?? []) : [],
        // Ours split in two: the objects the public Worker binds by script_name, in a second service.
        state:
          name === "ours" && build.state
            ? { bundlePath: build.state.bundlePath, durableObjects: build.config.state.durableObjects }
            : undefined,
      })),
      config: build.config,
      tmp,
      scenario: SCENARIOS.find((s) => s.name === "connect"),
      ctx,
      samples: PLAN.coldSamples,
    });
  }
  await cleanup();
  return finish(results, startedAt);
}

function finish(results, startedAt) {
  report.addKvShare(results);
  const failed = Object.entries(results.scenarios).filter(
    ([, s]) =>
      !s.skipped &&
      (Object.values(s.subjects).some((m) => m.errors) || Object.values(s.counts).some((c) => c.failures)),
  );
  results.meta = {
    date: new Date().toISOString(),
    mode: smoke ? "smoke" : "full",
    node: process.version,
    nproc: cpus().length,
    cpu: cpus()[0]?.model,
    upstreamLatencyMs: Number(opts["latency-ms"]),
    rateBudget: opts.budget,
    // Where the subjects' console output went: "null" unless asked otherwise or on Windows.
    workerStdout,
    plan: PLAN,
    seconds: (Date.now() - startedAt) / 1000,
  };
  results.targets = smoke ? [] : report.targets(results);
  const costs = report.costTable(results);
  const file = join(HERE, smoke ? ".out/results-smoke.json" : "results.json");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

  const m = results.meta;
  console.log(
    `\n${m.mode} run, ${m.date}, node ${m.node}, ${m.nproc} x ${m.cpu}, upstream latency ${m.upstreamLatencyMs} ms, rate budget ${m.rateBudget}, worker stdout ${m.workerStdout}, concurrency ${PLAN.concurrency}, ${m.seconds.toFixed(0)} s\n`,
  );
  console.log(report.mainTable(results));
  console.log(`\n${report.kvLine(results)}`);
  if (results.proxyLatency) console.log(`\n${report.latencyTable(results)}`);
  if (results.steps) console.log(`\n${report.stepsTable(results)}`);
  if (results.coldStart) console.log(`\n${report.coldTable(results)}`);
  console.log(`\n${report.bundleLine(results.bundle)}`);
  console.log(`\nCloudflare list prices beyond the Workers Paid inclusions, per million (docs/performance.md):\n`);
  console.log(costs);
  if (!smoke) console.log(`\n${report.targetTable(results.targets)}`);
  for (const [name] of failed) console.log(`\nERROR: ${name} had failed requests; its figures are not valid.`);
  const budget = report.bundleBudget(results.bundle);
  if (!budget.pass) {
    console.log(
      `\nERROR: the bundle is ${budget.value.toFixed(2)} KiB min+gzip, over the ${report.BUNDLE_BUDGET_KIB} KiB budget (docs/performance.md).`,
    );
  }
  console.log(`\nresults: ${file}`);
  console.log(report.lastLine(results));
  return failed.length || !budget.pass ? 1 : 0;
}

// Once a signal is being handled, its handler exits: whatever main() does meanwhile (requests
// to servers that are going away) is not reported.
main().then(
  (code) => stopping || process.exit(code),
  async (error) => {
    if (stopping) return;
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    await cleanup();
    process.exit(1);
  },
);
