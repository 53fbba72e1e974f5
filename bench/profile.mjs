#!/usr/bin/env node
// Where one step's CPU goes inside workerd, by JavaScript function and source module. The step
// worker (bench/steps/worker.js, the bundle `npm run bench` times) runs in its own workerd
// (started directly, like the cold starts) while the step loops, K calls per request.
//   node bench/profile.mjs [--steps proxy,404,bare] [--seconds 6] [--hz 1999] [--top 25]
//   node bench/profile.mjs --time [--steps proxy,404,bare] [--rounds 7] [--vs ../other-checkout]
//   node bench/profile.mjs --inspector [--steps proxy] [--seconds 6]
// --steps: aliases (proxy, bare, 404, callback, writer, leases, asks) or step names, comma-separated.
// Default: Linux `perf` samples workerd with V8's --perf-basic-prof (JavaScript frames named in
// /tmp/perf-<pid>.map, removed at exit), call stacks by frame pointers; each sample goes to the
// innermost JavaScript function on its stack and to the runtime API it was in. No inspector:
// what is measured is what the bench times. Needs perf (root or perf_event_paranoid <= 1).
// --time: workerd CPU per call of each step from /proc, minus the empty step, as the bench's
// steps pass does, in --rounds interleaved rounds (median, lowest-highest). --vs DIR bundles
// the step worker of another checkout too (its own workerd, rounds interleaved) and prints the
// per-round difference: a before/after of a change in one run.
// --inspector: a V8 CPU profile over the DevTools protocol, saved as
// bench/.out/profile-<alias>.cpuprofile for Chrome DevTools or speedscope. Distorted: with a
// session attached, workerd's console.log costs ~4x and a proxied call ~2x (measured when this
// was written); use it to read call trees, not costs. Findings: docs/performance.md, "The request
// frame (issue 20)".
// --v8-flags a,b: more V8 flags for workerd, e.g. --no-turbo-inlining,--no-maglev-inlining so that
// a sample names the function it was in rather than the one it was inlined into (slower code,
// steadier attribution). --stdout pipe: workerd's stdout to a socket Node reads and drops, instead
// of /dev/null (the default, as `npm run bench` does unless --worker-stdout parsed).
// Loopback only; throwaway secrets; stops every process it started.
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import workerd from "workerd";
import WebSocket from "ws";
import { REPO_ROOT } from "../scripts/lib/dev-vars.mjs";
import { buildSteps } from "./lib/build.mjs";
import { runLoad, send } from "./lib/load.mjs";
import { killAllNow, stopAll, stopChild, track } from "./lib/procs.mjs";
import { callbackRequest, makeContext } from "./lib/scenarios.mjs";
import { generateSecrets, subjectBindings } from "./lib/subjects.mjs";

const ALIASES = {
  proxy: "whole proxied call, KV + Finch stubbed: ours",
  bare: "whole proxied call, KV + Finch stubbed: bare",
  404: "frame: routing + middleware + log line (404)",
  callback: "callback, Worker side: writer answered by an in-isolate stub",
  writer: "writer: connect with event, in-memory storage",
  leases: "whole proxied call, KV + Finch stubbed, rate budget on (leases): ours",
  asks: "whole proxied call, KV + Finch stubbed, rate budget on (every call asks): ours",
  log: "log: request id + one JSON line (console.log)",
};
const { values: opts } = parseArgs({
  options: {
    steps: { type: "string", default: "proxy,404,bare" },
    seconds: { type: "string", default: "6" },
    hz: { type: "string", default: "1999" },
    k: { type: "string", default: "20" },
    top: { type: "string", default: "25" },
    time: { type: "boolean", default: false },
    inspector: { type: "boolean", default: false },
    attached: { type: "boolean", default: false },
    rounds: { type: "string", default: "7" },
    "slice-ms": { type: "string", default: "600" },
    concurrency: { type: "string", default: "8" },
    vs: { type: "string" },
    keep: { type: "boolean", default: false },
    stdout: { type: "string", default: "null" },
    "v8-flags": { type: "string", default: "" },
  },
});
const num = (v, lo, hi, d) => Math.min(hi, Math.max(lo, Number(v) || d));
const SECONDS = num(opts.seconds, 1, 60, 6);
const HZ = num(opts.hz, 99, 20_000, 1999);
const K = num(opts.k, 1, 1000, 20);
const TOP = num(opts.top, 5, 200, 25);
const ROUNDS = num(opts.rounds, 1, 51, 7);
const SLICE_MS = num(opts["slice-ms"], 100, 10_000, 600);
// The bench's steps pass runs 8 requests at once (each K calls): the same interleaving here.
const CONCURRENCY = num(opts.concurrency, 1, 64, 8);
const OUT = join(import.meta.dirname, ".out");
const log = (msg) => process.stderr.write(`profile: ${msg}\n`);
const str = (s) => JSON.stringify(String(s));

/** One workerd for one step-worker bundle, as bench/lib/cold.mjs starts them (plus V8 flags). */
async function startWorkerd(dir, bundlePath, config, bindings, { v8Flags = [], inspector = false } = {}) {
  const module = basename(bundlePath);
  copyFileSync(bundlePath, join(dir, module));
  const b = Object.entries(bindings).map(([name, value]) => `(name = ${str(name)}, text = ${str(value)})`);
  writeFileSync(
    join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "steps", worker = .steps), (name = "loopback", network = (allow = ["local"]))],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "steps")],
  v8Flags = [${v8Flags.map(str).join(", ")}],
);
const steps :Workerd.Worker = (
  modules = [(name = ${str(module)}, esModule = embed ${str(module)})],
  compatibilityDate = ${str(config.compatibilityDate)},
  compatibilityFlags = [${config.compatibilityFlags.map(str).join(", ")}],
  bindings = [${b.join(", ")}],
  globalOutbound = "loopback",
);
`,
  );
  const args = ["serve", "--experimental", "--control-fd=3", "config.capnp"];
  if (inspector) args.push("--inspector-addr=127.0.0.1:0");
  // stdout (the request log lines) goes to /dev/null, as in the bench: each line is written, and
  // its write wakes no reader. --stdout pipe: to Node, which reads and drops it.
  const out = opts.stdout === "pipe" ? "pipe" : "ignore";
  const child = spawn(workerd.default, args, { cwd: dir, detached: true, stdio: ["ignore", out, "pipe", "pipe"] });
  track(child, "workerd (profile)");
  child.stdout?.resume();
  const errTail = [];
  createInterface({ input: child.stderr }).on("line", (l) => errTail.push(l) > 20 && errTail.shift());
  const ports = await new Promise((ok, fail) => {
    const found = {};
    const timer = setTimeout(() => fail(new Error("workerd did not listen in time")), 30_000);
    createInterface({ input: child.stdio[3] }).on("line", (line) => {
      const e = JSON.parse(line);
      if (e.event === "listen") found.http = e.port;
      if (e.event === "listen-inspector") found.inspector = e.port;
      if (found.http && (!inspector || found.inspector)) {
        clearTimeout(timer);
        ok(found);
      }
    });
    child.once("exit", (code) => fail(new Error(`workerd exited (${code}):\n${errTail.join("\n")}`)));
  });
  return {
    child,
    pid: child.pid,
    bundlePath,
    origin: `http://127.0.0.1:${ports.http}`,
    inspectorPort: ports.inspector,
  };
}

/** Source module of each 1-based line of the bundle, from esbuild's `// path` markers. */
function moduleMap(bundle) {
  const marks = [];
  bundle.split("\n").forEach((line, i) => {
    const m = /^\/\/ (\S+\.(?:m?js|ts|cjs))$/.exec(line);
    if (m) marks.push([i + 1, m[1].replace(/^(\.\.\/)+/, "").replace(/^.*node_modules\//, "")]);
  });
  return (line) => {
    let found = "(bundle)";
    for (let lo = 0, hi = marks.length - 1; lo <= hi; ) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) {
        found = marks[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Our modules by file; a package as a whole; the step worker's own code is the harness.
    if (found.startsWith("src/")) return found;
    if (found.startsWith("bench/") || found === "worker.js") return "harness (bench/steps, stubs)";
    return /^((?:@[^/]+\/)?[^/]+)\//.exec(found)?.[1] ?? found;
  };
}

/** A C++ frame's symbol without its arguments and template noise, for a table. */
const shortSym = (sym) => {
  const s = sym.replace(/\(.*$/s, "").replace(/<[^<>]*(<[^<>]*>[^<>]*)*>/g, "<>");
  return s.length > 90 ? `${s.slice(0, 87)}...` : s;
};

/** What a native frame is: the runtime API or V8 service it belongs to (null: plumbing, look further in). */
function nativeKind(sym) {
  if (/^v8::internal::(Heap|Scaveng|MarkCompact|Sweeper|Marking|Evacuat|Minor|.*GC)/.test(sym)) return "V8 GC";
  if (/^workerd::api::/.test(sym)) return shortSym(sym);
  if (/^(Builtin_|v8::internal::Builtin_|v8::internal::Runtime_)/.test(sym)) return shortSym(sym);
  if (/ErrorUtils::Construct|CaptureSimpleStackTrace|CaptureAndSetErrorStack/.test(sym))
    return "V8 Error stack capture";
  return null;
}

/**
 * What a sample without JavaScript on its stack was doing, by the first pattern its stack
 * matches. The write comes first: glibc's write has no frame pointer, so its stack ends there.
 */
const RUNTIME_JOBS = [
  [
    /__GI___libc_write|ksys_write|vfs_write|sock_def_readable|unix_stream_sendmsg|alloc_skb/,
    "write(2) of a log line to workerd's stdout (/dev/null, or a socket to Node with --stdout pipe)",
  ],
  [/Headers::~Headers/, "Headers freed"],
  [/workerd::api::.*::~|ada_free|detachWrapper|RefToDelete/, "other runtime API objects freed"],
  [
    /Heap::|Scaveng|MarkCompact|Sweeper|ArrayBufferSweeper|IsUnmodifiedApiObject|HeapTracer|GlobalHandles|TracedHandles|cppgc/,
    "V8 GC",
  ],
  [/RunMicrotasks|PromiseFulfillReactionJob|ResumeGenerator/, "microtasks (promise jobs between JavaScript frames)"],
  [/Compile|compiler::|[Mm]aglev|Turbofan|turboshaft/, "V8 compilers (optimising, re-optimising)"],
  [/Http|AsyncStreamFd|epoll|tcp_|inet_/, "HTTP, sockets, event loop (the bench's requests)"],
  [/IoContext|InputGate|AsyncLock/, "workerd IoContext, isolate lock"],
  [/tcmalloc|malloc/, "malloc"],
  [/__schedule|finish_task_switch|irq|page_fault/, "kernel: scheduling, interrupts, page faults"],
];
const runtimeJob = (frames) => {
  const stack = frames.map((f) => f.sym).join("\n");
  return RUNTIME_JOBS.find(([re]) => re.test(stack))?.[1] ?? "other";
};

/** Attribution of `perf script -F ip,sym,dso` text (innermost frame first in each block). */
function analysePerf(text, whereIs, bundleName) {
  const acc = { owner: new Map(), fn: new Map(), api: new Map(), incl: new Map(), samples: 0 };
  const add = (map, key, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
  for (const block of text.split(/\n\s*\n/)) {
    const frames = [];
    for (const line of block.split("\n")) {
      const m = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
      if (m) frames.push({ sym: m[1], dso: m[2] });
    }
    if (frames.length === 0) continue;
    acc.samples++;
    const js = frames.map((f) => {
      const m = /^JS:[*+~^]?'?(.*?) ?(\S+):(\d+):\d+$/.exec(f.sym);
      if (!m || !/perf-\d+\.map/.test(f.dso)) return null;
      // Our bundle by its line; the runtime's own JavaScript (workerd's node:* modules) by script.
      const module = m[2] === bundleName ? whereIs(Number(m[3])) : `runtime JS (${m[2]})`;
      return { key: `${m[1] || "(anonymous)"} ${module}:${m[3]}`, module };
    });
    const at = js.findIndex(Boolean);
    if (at < 0) {
      // No JavaScript on the stack: the runtime's own work (HTTP, event loop, GC threads, compilers).
      add(acc.owner, `(no JavaScript on the stack) ${runtimeJob(frames)}`);
      continue;
    }
    const owner = js[at];
    add(acc.owner, owner.module);
    let native = "JavaScript itself";
    if (at > 0) {
      const inner = frames.slice(0, at);
      native =
        inner.map((f) => nativeKind(f.sym)).find(Boolean) ??
        (inner.some((f) => f.dso.includes("kernel"))
          ? "kernel"
          : `V8 builtins/runtime (${shortSym(inner[at - 1].sym)})`);
    }
    add(acc.fn, `${owner.key}\n${at > 0 ? "native" : "js"}`);
    add(acc.api, `${native} <- ${owner.module}`);
    const seen = new Set();
    for (const f of js) if (f && !seen.has(f.key)) seen.add(f.key) && add(acc.incl, f.key);
  }
  return acc;
}

const table = (title, rows, total, usPerSample, calls, top) =>
  [
    `| ${title} | share | µs/call |`,
    "| --- | ---: | ---: |",
    ...[...rows]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([k, n]) =>
          `| ${k.replaceAll("|", "\\|")} | ${((100 * n) / total).toFixed(1)} % | ${((n * usPerSample) / calls).toFixed(1)} |`,
      ),
  ].join("\n");

/** utime + stime of a process (all threads), µs. */
const cpuUs = (pid) => {
  const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(rest[11]) + Number(rest[12])) * 1e6) / CLK_TCK;
};
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

const stepLoad = (origin, name, ms, concurrency = CONCURRENCY) =>
  runLoad(origin, {
    make: () => ({ path: `/${encodeURIComponent(name)}?n=${K}` }),
    ok: (s) => s === 204,
    concurrency,
    maxRequests: 1e9,
    maxMs: ms,
  });

async function perfStep(alias, name, w, whereIs, tmp) {
  await stepLoad(w.origin, name, 1500);
  const data = join(tmp, `perf-${Date.now()}.data`);
  log(`${alias}: perf for ${SECONDS} s ...`);
  const window0 = cpuUs(w.pid);
  const perf = spawn(
    "perf",
    ["record", "-F", String(HZ), "-g", "-p", String(w.pid), "-o", data, "--", "sleep", String(SECONDS)],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const perfErr = [];
  perf.stderr.on("data", (d) => perfErr.push(String(d)));
  await new Promise((r) => setTimeout(r, 300));
  const cpu0 = cpuUs(w.pid);
  const m = await stepLoad(w.origin, name, SECONDS * 1000 - 600);
  const cpu = cpuUs(w.pid) - cpu0;
  const code = await new Promise((r) => perf.once("exit", r));
  const windowCpu = cpuUs(w.pid) - window0;
  if (code !== 0) throw new Error(`perf record failed (${code}): ${perfErr.join("").slice(-500)}`);
  if (m.errors) throw new Error(`${alias}: ${m.errors} failed requests ${JSON.stringify(m.statuses)}`);
  const text = execFileSync("perf", ["script", "-i", data, "-F", "ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 2 * 1024 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
  rmSync(data, { force: true });
  if (opts.keep) {
    // `perf script` text: speedscope opens it as is.
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, `perf-${alias.replace(/[^a-z0-9-]+/gi, "_")}.txt`), text);
  }
  const calls = m.requests * K;
  const a = analysePerf(text, whereIs, basename(w.bundlePath));
  // Each sample stands for an equal slice of workerd's CPU: scale to /proc's figure over the window.
  const usPerSample = windowCpu / a.samples;
  const jsSamples = [...a.owner].filter(([k]) => !k.startsWith("(no JavaScript")).reduce((x, [, n]) => x + n, 0);
  const t = (title, rows) => table(title, rows, a.samples, usPerSample, calls, TOP);
  return [
    `## ${name}`,
    "",
    `perf at ${HZ} Hz for ${SECONDS} s: ${a.samples} samples; ${calls} calls (${m.requests} requests of ${K}); ` +
      `workerd CPU ${(cpu / calls).toFixed(1)} µs per call (/proc, load ${loadavg()}); ` +
      `${((100 * jsSamples) / a.samples).toFixed(1)} % of samples have JavaScript on the stack.`,
    "",
    t("owner: innermost JavaScript function's module (its own code + the runtime APIs it called)", a.owner),
    "",
    t(
      "function (innermost JavaScript frame; js: its own code, native: runtime APIs and V8 services under it)",
      [...a.fn].map(([k, n]) => [k.replace("\n", " | "), n]),
    ),
    "",
    t("runtime API or V8 service <- the module that called it", a.api),
    "",
    t("inclusive, by JavaScript function (synchronous stack: an await resumes outside its caller)", a.incl),
  ].join("\n");
}

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const fmt = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;

/** CPU per call of each step in each tree's workerd, in interleaved rounds (the bench's method). */
async function timeSteps(names, subjects) {
  const per = async (w, name) => {
    const cpu0 = cpuUs(w.pid);
    const m = await stepLoad(w.origin, name, SLICE_MS);
    if (m.errors) throw new Error(`${name}: ${m.errors} failed requests ${JSON.stringify(m.statuses)}`);
    return (cpuUs(w.pid) - cpu0) / m.requests;
  };
  for (const s of subjects) for (const [, name] of [[0, "noop"], ...names]) await stepLoad(s.origin, name, 500);
  // Each step runs on every subject back to back (their order alternating by round), so a
  // burst on the shared machine weighs on a pair alike; each subject's empty step per round.
  const results = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    log(`round ${r + 1} of ${ROUNDS} (load ${loadavg()})`);
    const order = r % 2 ? [...subjects].reverse() : subjects;
    const noop = new Map();
    for (const s of order) noop.set(s, await per(s, "noop"));
    for (const [alias, name] of names) {
      for (const s of order) {
        const key = `${alias}\n${s.label}`;
        results.set(key, [...(results.get(key) ?? []), ((await per(s, name)) - noop.get(s)) / K]);
      }
    }
  }
  const two = subjects.length > 1;
  const lines = [
    `| step | ${subjects.map((s) => `${s.label} µs/call`).join(" | ")} |${two ? ` ${subjects[0].label} - ${subjects[1].label}, per round |` : ""}`,
    `| --- | ${subjects.map(() => "---:").join(" | ")} |${two ? " ---: |" : ""}`,
  ];
  for (const [alias, name] of names) {
    const got = subjects.map((s) => results.get(`${alias}\n${s.label}`));
    const diff = two ? ` ${fmt(got[0].map((x, i) => x - got[1][i]))} |` : "";
    lines.push(`| ${name} | ${got.map(fmt).join(" | ")} |${diff}`);
  }
  return `${ROUNDS} rounds of ${SLICE_MS} ms per step, K=${K}, concurrency ${CONCURRENCY}, load at the end ${loadavg()}\n\n${lines.join("\n")}`;
}

/** A V8 CPU profile of the step over the DevTools protocol (see the header: distorted). */
async function inspectorStep(alias, name, w) {
  const targets = await (await fetch(`http://127.0.0.1:${w.inspectorPort}/json/list`)).json();
  const url = targets[0]?.webSocketDebuggerUrl?.replace("localhost", "127.0.0.1");
  if (!url) throw new Error(`no inspector target: ${JSON.stringify(targets)}`);
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => ws.once("open", ok).once("error", fail));
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data));
    pending.get(msg.id)?.(msg);
    pending.delete(msg.id);
  });
  const call = (method, params = {}) =>
    new Promise((ok, fail) => {
      pending.set(++id, (msg) => (msg.error ? fail(new Error(`${method}: ${msg.error.message}`)) : ok(msg.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  if (opts.attached) return ws; // --time --attached: the session stays, nothing sampled
  await stepLoad(w.origin, name, 1500);
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  log(`${alias}: V8 profiler for ${SECONDS} s ...`);
  const m = await stepLoad(w.origin, name, SECONDS * 1000);
  const { profile } = await call("Profiler.stop");
  ws.close();
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `profile-${alias.replace(/[^a-z0-9-]+/gi, "_")}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return `${name}: ${m.requests * K} calls, ${profile.samples.length} samples: ${file}`;
}

async function main() {
  const names = opts.steps.split(",").map((s) => [s, ALIASES[s] ?? s]);
  const tmp = mkdtempSync(join(tmpdir(), "fce-profile-"));
  tmpDir = tmp;
  log("bundling the step worker with wrangler deploy --dry-run ...");
  const trees = [{ label: opts.vs ? "this tree" : "steps", dir: REPO_ROOT }];
  if (opts.vs) trees.push({ label: basename(resolve(opts.vs)), dir: resolve(opts.vs) });
  const built = await Promise.all(trees.map((t, i) => buildSteps(join(tmp, `bundle-${i}`), t.dir)));
  const { config } = built[0];
  const secrets = generateSecrets();
  const bindings = {
    ...subjectBindings("ours", { config }, secrets, "http://127.0.0.1:9", "http://127.0.0.1:9"),
    FINCH_RATE_BUDGET: "on",
    FINCH_RATE_LIMITS: "company=1000000,directory=1000000",
  };
  const perfMode = !opts.time && !opts.inspector;
  const ctx = makeContext(secrets);
  let runs = 0;
  /** A fresh workerd for tree `i`, its fixtures set up, every asked-for step known to it. */
  const launch = async (i) => {
    const dir = join(tmp, `run-${runs++}`);
    mkdirSync(dir);
    const w = await startWorkerd(dir, built[i].steps.bundlePath, config, bindings, {
      v8Flags: [...(perfMode ? ["--perf-basic-prof"] : []), ...opts["v8-flags"].split(",").filter(Boolean)],
      inspector: opts.inspector || opts.attached,
    });
    if (perfMode) perfMaps.push(`/tmp/perf-${w.pid}.map`);
    const setup = await send(
      w.origin,
      { method: "POST", path: "/__setup", body: JSON.stringify(callbackRequest(ctx)) },
      { keepBody: true },
    );
    if (setup.status !== 204) throw new Error(`${trees[i].label}: setup answered ${setup.status} ${setup.body ?? ""}`);
    const known = JSON.parse((await send(w.origin, { path: "/" }, { keepBody: true })).body);
    for (const [, name] of names) {
      if (!known.includes(name)) throw new Error(`${trees[i].label}: no step "${name}"; steps: ${known.join("; ")}`);
    }
    return { ...trees[i], ...w };
  };
  if (opts.time) {
    const subjects = [];
    for (const i of trees.keys()) subjects.push(await launch(i));
    if (opts.attached) for (const s of subjects) await inspectorStep("attached", "noop", s);
    console.log(`\n${await timeSteps(names, subjects)}`);
    return;
  }
  // One fresh workerd per step: the perf map only grows, so code of an earlier step freed and
  // its address reused would be named after the earlier function.
  const whereIs = moduleMap(readFileSync(built[0].steps.bundlePath, "utf8"));
  for (const [alias, name] of names) {
    const w = await launch(0);
    const out = opts.inspector ? await inspectorStep(alias, name, w) : await perfStep(alias, name, w, whereIs, tmp);
    await stopChild(w.child);
    console.log(`\n${out}`);
  }
}

let tmpDir;
const perfMaps = [];
const cleanup = () => {
  killAllNow();
  for (const f of perfMaps) rmSync(f, { force: true });
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
main().then(
  async () => {
    await stopAll();
    process.exit(0);
  },
  (error) => {
    log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
