#!/usr/bin/env node
// Where workerd's CPU goes for one scenario, ours next to bare, sampled with Linux `perf`
// (workerd ships with symbols; JavaScript frames are not symbolised, so this splits the time
// between the runtime's parts, not between our functions: bench/steps/ does that).
//   node bench/perf.mjs [scenario=proxy] [--seconds 3]
// Needs `perf` (Debian: linux-perf) and permission to attach to an own process (root, or
// kernel.perf_event_paranoid <= 1). Loopback only; stops everything it started.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildSubjects } from "./lib/build.mjs";
import { runLoad } from "./lib/load.mjs";
import { killAllNow, startJsonChild, stopAll } from "./lib/procs.mjs";
import { makeContext, SCENARIOS } from "./lib/scenarios.mjs";
import { generateSecrets, seed, startSubject } from "./lib/subjects.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: "string", default: "3" } },
});
const scenario = SCENARIOS.find((s) => s.name === (positionals[0] ?? "proxy"));
if (!scenario) throw new Error(`no scenario ${positionals[0]}; one of ${SCENARIOS.map((s) => s.name).join(", ")}`);
const seconds = Math.min(10, Math.max(1, Number(values.seconds) || 3));
const HZ = 2000;

// Innermost matching frame decides the bucket; order matters (first match wins).
const BUCKETS = [
  ["kernel (syscalls, loopback TCP)", (f) => f.kernel],
  ["sqlite (local KV simulator storage)", (f) => /sqlite/i.test(f.sym)],
  ["crypto (BoringSSL)", (f) => /EVP_|aes|sha256|SHA256|HMAC|gcm|bssl|CRYPTO_|ghash/i.test(f.sym)],
  ["memory: malloc/free", (f) => /tcmalloc|malloc|operator new|operator delete|\bfree\b/.test(f.sym)],
  [
    "memory: V8 garbage collector",
    (f) => /v8::internal::(Heap|Scaveng|MarkCompact|Sweeper|Marking|Evacuat|Minor)/.test(f.sym),
  ],
  ["V8: builtins, interpreter, JIT code", (f) => /^Builtins_|\[unknown\]|^0x/.test(f.sym)],
  ["V8: runtime and embedder API", (f) => /v8::|Runtime_/.test(f.sym)],
  ["workerd Web APIs and JS bindings", (f) => /workerd::api::|workerd::jsg::/.test(f.sym)],
  ["workerd core, kj event loop, HTTP, capnp", (f) => /kj::|capnp::|workerd::/.test(f.sym)],
  ["libc", (f) => /libc|ld-linux/.test(f.dso)],
  ["other", () => true],
];

/** Samples per bucket and per innermost Web API entry, from `perf script` text. */
function analyse(dataFile) {
  const text = execFileSync("perf", ["script", "-i", dataFile, "-F", "ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const buckets = {};
  const apis = {};
  let samples = 0;
  for (const block of text.split(/\n\s*\n/)) {
    const frames = block
      .split("\n")
      .map((l) => /^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$/.exec(l))
      .filter(Boolean)
      .map(([, , sym, dso]) => ({ sym, dso, kernel: dso.includes("kernel") }));
    if (!frames.length) continue;
    samples++;
    const top = frames[0];
    const bucket = BUCKETS.find(([, match]) => match(top))[0];
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    const api = frames.map((f) => /(workerd::api::[A-Za-z_:]+?)(?:\(|<|$)/.exec(f.sym)?.[1]).find(Boolean);
    if (api) apis[api] = (apis[api] ?? 0) + 1;
  }
  return { samples, buckets, apis };
}

async function main() {
  if (!existsSync("/usr/bin/perf")) throw new Error("perf is not installed (Debian: apt-get install linux-perf)");
  const tmp = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "fce-perf-"));
  process.on("exit", () => {
    killAllNow();
    rmSync(tmp, { recursive: true, force: true });
  });
  try {
    const build = await buildSubjects(tmp);
    const up = await startJsonChild("upstream", join(import.meta.dirname, "upstream.mjs"), []);
    const upstream = `http://127.0.0.1:${up.ready.port}`;
    const secrets = generateSecrets();
    const ctx = makeContext(secrets);
    const out = {};
    for (const [i, name] of ["bare", "ours"].entries()) {
      // As `npm run bench` runs ours by default: the rate budget on, with limits never reached (the
      // production defaults would answer this load's proxied calls 429).
      const oursBindings = { FINCH_RATE_BUDGET: "on", FINCH_RATE_LIMITS: "company=1000000,directory=1000000" };
      const s = await startSubject({
        name,
        build,
        secrets,
        upstream,
        tmp,
        preferredPort: 18760 + 10 * i,
        oursBindings,
      });
      s.seeds.timed = await seed(ctx, s.urls.timed);
      const load = (ms) =>
        runLoad(s.urls.timed, {
          make: () => scenario.make(ctx, s.seeds.timed),
          ok: scenario.ok,
          concurrency: 8,
          maxRequests: 50_000,
          maxMs: ms,
        });
      await load(1500);
      const data = join(tmp, `${name}.perf`);
      const perf = spawn("perf", ["record", "-q", "-F", String(HZ), "-g", "-o", data, "-p", String(s.workerd[0])], {
        stdio: "ignore",
      });
      await new Promise((r) => setTimeout(r, 300));
      const m = await load(seconds * 1000);
      perf.kill("SIGINT");
      await new Promise((r) => perf.once("exit", r));
      if (m.errors) throw new Error(`${name}: ${m.errors} failed requests ${JSON.stringify(m.statuses)}`);
      out[name] = { requests: m.requests, ...analyse(data) };
    }
    report(out);
  } finally {
    await stopAll();
  }
}

function report(out) {
  const us = (name, n) => (n * 1e6) / HZ / out[name].requests;
  const rows = (key, limit) => {
    const names = new Set([...Object.keys(out.bare[key]), ...Object.keys(out.ours[key])]);
    return [...names]
      .map((k) => [k, us("bare", out.bare[key][k] ?? 0), us("ours", out.ours[key][k] ?? 0)])
      .sort((a, b) => b[2] - a[2])
      .slice(0, limit)
      .map(([k, b, o]) => `| ${k} | ${b.toFixed(0)} | ${o.toFixed(0)} | ${(o - b).toFixed(0)} |`);
  };
  const total = (name) => us(name, out[name].samples);
  console.log(`\nperf, ${scenario.name}: workerd CPU µs per request (${HZ} Hz samples over ${seconds} s each)\n`);
  console.log("| where (innermost frame) | bare | ours | ours - bare |\n|---|---:|---:|---:|");
  console.log(rows("buckets", 20).join("\n"));
  console.log(
    `| total | ${total("bare").toFixed(0)} | ${total("ours").toFixed(0)} | ${(total("ours") - total("bare")).toFixed(0)} |`,
  );
  console.log("\n| innermost Web API on the stack (includes the JS continuing after it) | bare | ours | ours - bare |");
  console.log("|---|---:|---:|---:|");
  console.log(rows("apis", 8).join("\n"));
}

main().catch(async (error) => {
  process.stderr.write(`perf: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopAll();
  process.exit(1);
});
