#!/usr/bin/env node
// `npm run bench`: the production Worker ("ours") side by side with the floor ("bare",
// bench/bare/), same runtime, same requests, same upstream stand-in, all on 127.0.0.1.
//   node bench/run.mjs [--smoke] [--latency-ms N] [--concurrency N]
// --smoke: a few requests per scenario, no targets; exits 0 when every scenario ran or was skipped.
// How it works and how to read it: docs/performance.md. Bounded: under 2 minutes; stops every
// process it started, also on error and Ctrl-C.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, wranglerEnv } from "../scripts/lib/dev-server.mjs";
import { buildSubjects } from "./lib/build.mjs";
import { runLoad, send } from "./lib/load.mjs";
import { childPids, cpuMicros, killAllNow, startJsonChild, stopAll, sumCpuMicros } from "./lib/procs.mjs";
import { bundleLine, lastLine, latencyTable, mainTable, targets, targetTable } from "./lib/report.mjs";
import {
  CUSTOMERS,
  callbackRequest,
  connectionIdFrom,
  LISTING_SIZE,
  makeContext,
  SCENARIOS,
} from "./lib/scenarios.mjs";

const HERE = import.meta.dirname;
const { values: opts } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    "latency-ms": { type: "string", default: "0" },
    concurrency: { type: "string", default: "8" },
  },
});
const smoke = opts.smoke;
const concurrency = Math.max(1, Math.min(64, Number(opts.concurrency) || 8));
// Per scenario and subject: warm-up, then the measured run, each capped in count and time.
const PLAN = smoke
  ? { warmMs: 200, warmMax: 10, runMs: 800, runMax: 30, countN: 3, latMs: 300, latMax: 20, concurrency: 2 }
  : { warmMs: 1000, warmMax: 3000, runMs: 4000, runMax: 6000, countN: 10, latMs: 1500, latMax: 600, concurrency };
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
let tmp;

async function cleanup() {
  await stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    log(`stopping (${signal})`);
    void cleanup().then(() => process.exit(130));
  });
}
process.on("exit", killAllNow);

/** Throwaway secrets for this run only: never the developer's .dev.vars. */
const generateSecrets = () => ({
  FINCH_CLIENT_ID: randomUUID(),
  FINCH_CLIENT_SECRET: randomBytes(32).toString("base64url"),
  TICKET_SECRET: randomBytes(32).toString("base64url"),
  ENCRYPTION_KEYS: `bench1:${randomBytes(32).toString("base64")}`,
  API_KEYS: `fce_bench_${randomBytes(24).toString("base64url")}`,
  WEBHOOK_SECRETS: randomBytes(32).toString("base64"),
});

async function startSubject(name, build, secrets, upstreamOrigin, preferredPort) {
  const port = await freePort(preferredPort);
  const countPort = await freePort(preferredPort + 1);
  const bindings = {
    ...(name === "ours" ? build.config.vars : {}),
    ...secrets,
    FINCH_API_BASE_URL: upstreamOrigin,
    FINCH_REDIRECT_URI: `http://127.0.0.1:${port}/callback`,
    SUCCESS_URL: "http://127.0.0.1/connected",
    ALLOWED_RETURN_ORIGINS: "http://127.0.0.1",
  };
  const input = JSON.stringify({
    bundlePath: build[name].bundlePath,
    modulesRoot: build[name].dir,
    persistDir: join(tmp, `kv-${name}`),
    compatibilityDate: build.config.compatibilityDate,
    compatibilityFlags: build.config.compatibilityFlags,
    bindings,
    port,
    countPort,
  });
  const child = await startJsonChild(`serve:${name}`, join(HERE, "lib", "serve.mjs"), [], {
    input,
    env: wranglerEnv(),
  });
  let workerd = [];
  for (let i = 0; i < 50 && workerd.length === 0; i++) {
    workerd = childPids(child.pid, "workerd");
    if (workerd.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  if (workerd.length === 0) throw new Error(`serve:${name}: no workerd process found`);
  return { name, child, workerd, timed: child.ready.timed, counted: child.ready.counted, seeds: {} };
}

/** Connects customers through the subject's own callback, as the scenarios expect. */
async function seed(ctx, origin) {
  const one = async (customer) => {
    const res = await send(origin, callbackRequest(ctx, customer), { keepBody: true });
    const id = connectionIdFrom(res);
    if (!id) throw new Error(`seeding ${origin}: callback answered ${res.status} ${res.body?.slice(0, 200) ?? ""}`);
    return id;
  };
  const proxyConnection = await one(CUSTOMERS.proxy);
  for (let i = 0; i < LISTING_SIZE; i++) await one(CUSTOMERS.listing);
  return { proxyConnection };
}

async function upstreamCounts(origin) {
  const res = await send(origin, { path: "/__counts" }, { keepBody: true });
  return JSON.parse(res.body).counts;
}
const delta = (before, after) =>
  Object.fromEntries(
    Object.keys(after)
      .map((k) => [k, after[k] - (before[k] ?? 0)])
      .filter(([, v]) => v > 0),
  );
const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Timed run on a subject's plain bundle: throughput, latency, CPU of its workerd. */
async function timedRun(subject, scenario, ctx, upstream) {
  const load = (maxMs, maxRequests) =>
    runLoad(subject.timed, {
      make: () => scenario.make(ctx, subject.seeds.timed),
      ok: scenario.ok,
      concurrency: PLAN.concurrency,
      maxRequests,
      maxMs,
    });
  await load(PLAN.warmMs, PLAN.warmMax);
  const cpu0 = sumCpuMicros(subject.workerd);
  const host0 = cpuMicros(subject.child.pid);
  const up0 = await upstreamCounts(upstream);
  const m = await load(PLAN.runMs, PLAN.runMax);
  const up = total(delta(up0, await upstreamCounts(upstream)));
  m.cpuUsPerReq = (sumCpuMicros(subject.workerd) - cpu0) / m.requests;
  m.hostCpuUsPerReq = (cpuMicros(subject.child.pid) - host0) / m.requests;
  m.upstreamPerReq = up / m.requests;
  return m;
}

/** Counting pass on the KV-counting wrapper: KV calls and upstream calls per request. */
async function countRun(subject, scenario, ctx, upstream) {
  const kv = (reset) => send(subject.counted, { path: `/__bench/kv${reset ? "?reset=1" : ""}` }, { keepBody: true });
  await kv(true);
  const up0 = await upstreamCounts(upstream);
  let failures = 0;
  for (let i = 0; i < PLAN.countN; i++) {
    const res = await send(subject.counted, scenario.make(ctx, subject.seeds.counted));
    if (!scenario.ok(res.status)) failures++;
  }
  const k = JSON.parse((await kv(false)).body);
  const paths = delta(up0, await upstreamCounts(upstream));
  const per = (n) => n / PLAN.countN;
  return {
    requests: PLAN.countN,
    failures,
    kvReads: per(k.getKeys),
    kvWrites: per(k.put + k.delete),
    kvLists: per(k.list),
    kvCalls: Object.fromEntries(Object.entries(k).map(([op, n]) => [op, per(n)])),
    upstream: per(total(paths)),
    upstreamPaths: Object.fromEntries(Object.entries(paths).map(([p, n]) => [p, per(n)])),
  };
}

async function proxyLatency(subjects, ctx, upstream) {
  const at1 = (origin, make) =>
    runLoad(origin, { make, ok: (s) => s === 200, concurrency: 1, maxRequests: PLAN.latMax, maxMs: PLAN.latMs });
  const scenario = SCENARIOS.find((s) => s.name === "proxy");
  const token = randomUUID();
  const direct = () => ({ path: "/employer/company", headers: { authorization: `Bearer ${token}` } });
  await at1(upstream, direct);
  const out = { direct: await at1(upstream, direct) };
  for (const s of subjects) out[s.name] = await at1(s.timed, () => scenario.make(ctx, s.seeds.timed));
  return out;
}

async function main() {
  const startedAt = Date.now();
  tmp = mkdtempSync(join(tmpdir(), "fce-bench-"));
  log("bundling both subjects with wrangler deploy --dry-run ...");
  const build = await buildSubjects(tmp);
  const upstreamChild = await startJsonChild("upstream", join(HERE, "upstream.mjs"), [
    "--latency-ms",
    opts["latency-ms"],
  ]);
  const upstream = `http://127.0.0.1:${upstreamChild.ready.port}`;
  const secrets = generateSecrets();
  const ctx = makeContext(secrets);
  log("starting both subjects in workerd (Miniflare) ...");
  const subjects = await Promise.all([
    startSubject("bare", build, secrets, upstream, 18710),
    startSubject("ours", build, secrets, upstream, 18720),
  ]);
  const [bare, ours] = subjects;
  for (const s of subjects) {
    s.seeds.timed = await seed(ctx, s.timed);
    s.seeds.counted = await seed(ctx, s.counted);
  }

  const results = { scenarios: {}, bundle: build.bundle };
  for (const scenario of SCENARIOS) {
    const probe = await send(ours.timed, scenario.make(ctx, ours.seeds.timed), { keepBody: true });
    if (probe.status === 404 && /"code":"not_found"/.test(probe.body ?? "")) {
      console.log(`skipped: ${scenario.route} not available`);
      results.scenarios[scenario.name] = { skipped: true, route: scenario.route };
      continue;
    }
    log(`${scenario.name}: timed runs (bare, then ours) and counting pass ...`);
    const entry = { route: scenario.route, subjects: {}, counts: {} };
    for (const s of [bare, ours]) entry.subjects[s.name] = await timedRun(s, scenario, ctx, upstream);
    for (const s of [bare, ours]) entry.counts[s.name] = await countRun(s, scenario, ctx, upstream);
    results.scenarios[scenario.name] = entry;
    if (scenario.name === "proxy") results.proxyLatency = await proxyLatency([bare, ours], ctx, upstream);
  }
  await cleanup();
  return finish(results, startedAt);
}

function finish(results, startedAt) {
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
    plan: PLAN,
    seconds: (Date.now() - startedAt) / 1000,
  };
  results.targets = smoke ? [] : targets(results);
  const file = join(HERE, smoke ? ".out/results-smoke.json" : "results.json");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

  const m = results.meta;
  console.log(
    `\n${m.mode} run, ${m.date}, node ${m.node}, ${m.nproc} x ${m.cpu}, upstream latency ${m.upstreamLatencyMs} ms, concurrency ${PLAN.concurrency}, ${m.seconds.toFixed(0)} s\n`,
  );
  console.log(mainTable(results));
  if (results.proxyLatency) console.log(`\n${latencyTable(results)}`);
  console.log(`\n${bundleLine(results.bundle)}`);
  if (!smoke) console.log(`\n${targetTable(results.targets)}`);
  for (const [name] of failed)
    console.log(`\nERROR: ${name} had failed requests (see the errors column); its figures are not valid.`);
  console.log(`\nresults: ${file}`);
  console.log(lastLine(results));
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (error) => {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    await cleanup();
    process.exit(1);
  },
);
