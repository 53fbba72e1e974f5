// Cold start: from a fresh isolate to the first answered request, ours against bare.
//
// Each sample starts a new workerd process holding only the subject's bundle (as `wrangler
// deploy --dry-run` wrote it), so the isolate, the script compilation, the module's top-level
// code and every lazily compiled function are new: nothing is shared with earlier samples
// (workerd keeps no code cache between processes). Ours split in two also holds the state
// Worker's bundle, whose objects the public one binds: workerd starts both isolates before it
// listens, so ours' figures include the state isolate's start too (the classes' code was in the
// one bundle before the split); on Cloudflare that isolate starts apart, and is often already
// warm. workerd is started directly, not through Miniflare: Miniflare's own Node start-up and
// its helper services would add start-up work and noise that belong to neither Worker. workerd
// says when its socket listens on a control pipe (--control-fd, what Miniflare itself waits
// for); the request goes out at once.
//
// The request is GET /connect with a fresh ticket: it needs no KV (local KV is a simulator
// with a cold start of its own that production does not have), only one call to the Finch
// stand-in, and it runs through the frame, configuration, ticket check and cookie signing.
// Subjects alternate, sample after sample, so a busy neighbour weighs on both alike.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import workerd from "workerd";
import { send } from "./load.mjs";
import { stopChild, track } from "./procs.mjs";

const READY_TIMEOUT_MS = 30_000;
// The binary Miniflare and `wrangler dev` run (the package is CommonJS: its path is `.default`).
const WORKERD = workerd.default;

/** A capnp string literal (JSON's escapes are capnp's for what the bench passes). */
const str = (s) => JSON.stringify(String(s));

/**
 * One Worker of the config: the text bindings, its Durable Object bindings (those with a
 * script_name are served by the `state` service) and the classes it defines itself, SQLite-
 * backed and in memory: a fresh process starts with fresh objects, as a fresh isolate would.
 */
function workerConfig(id, { module, compatibilityDate, compatibilityFlags, bindings, durableObjects }) {
  const b = Object.entries(bindings).map(([name, value]) => `(name = ${str(name)}, text = ${str(value)})`);
  for (const { name, class_name: className, script_name: script } of durableObjects) {
    const service = script ? `, serviceName = "state"` : "";
    b.push(`(name = ${str(name)}, durableObjectNamespace = (className = ${str(className)}${service}))`);
  }
  const classes = [...new Set(durableObjects.filter((d) => !d.script_name).map((d) => d.class_name))];
  const objects = classes.length
    ? `durableObjectNamespaces = [${classes
        .map((c) => `(className = ${str(c)}, uniqueKey = ${str(`fce-bench-${c}`)}, enableSql = true)`)
        .join(", ")}],
  durableObjectStorage = (inMemory = void),`
    : "";
  return `const ${id} :Workerd.Worker = (
  modules = [(name = ${str(module)}, esModule = embed ${str(module)})],
  compatibilityDate = ${str(compatibilityDate)},
  compatibilityFlags = [${compatibilityFlags.map(str).join(", ")}],
  bindings = [${b.join(", ")}],${objects ? `\n  ${objects}` : ""}
  globalOutbound = "loopback",
);
`;
}

/**
 * workerd's text config: the subject on 127.0.0.1 (port chosen by workerd), only loopback out.
 * Ours split in two (wrangler.state.toml) adds the state Worker as a second service, without a
 * socket: the public Worker's objects live there, bound by className and serviceName.
 */
function capnpConfig({ subject, state }) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "subject", worker = .subject),${state ? `\n    (name = "state", worker = .state),` : ""}
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "subject")],
);
${workerConfig("subject", subject)}${state ? workerConfig("state", state) : ""}`;
}

/** CPU time (ns) of every live thread of `pid`, from /proc/<pid>/task/<tid>/schedstat. */
function cpuNs(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended while we looked
    }
  }
  return total;
}

/**
 * One fresh start: spawn workerd, wait for its socket, send `first`, then `warm`. Times in ms:
 * `listen` spawn -> listening, `first` the first request's latency, `total` spawn -> first
 * answer; `cpu` workerd's CPU up to the first answer; `warm` the second request's latency.
 * Both requests are built before the clock starts (minting a ticket is the bench's work).
 */
async function sample(dir, requests, ok) {
  const t0 = performance.now();
  const child = spawn(WORKERD, ["serve", "--experimental", "--control-fd=3", "config.capnp"], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  track(child, "workerd (cold start)");
  const errTail = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    errTail.push(line);
    if (errTail.length > 20) errTail.shift();
  });
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("workerd did not listen in time")), READY_TIMEOUT_MS);
      createInterface({ input: child.stdio[3] }).on("line", (line) => {
        const event = JSON.parse(line);
        if (event.event === "listen" && event.socket === "http") {
          clearTimeout(timer);
          resolve(event.port);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`workerd exited (${code}) before listening:\n${errTail.join("\n")}`));
      });
    });
    const listen = performance.now() - t0;
    const origin = `http://127.0.0.1:${port}`;
    const first = await send(origin, requests.first);
    const total = performance.now() - t0;
    const cpu = cpuNs(child.pid) / 1e6;
    const warm = await send(origin, requests.warm);
    if (!ok(first.status) || !ok(warm.status)) throw new Error(`cold start: answered ${first.status}/${warm.status}`);
    return { listen, first: first.us / 1000, total, cpu, warm: warm.us / 1000 };
  } finally {
    await stopChild(child);
  }
}

/**
 * `samples` fresh starts of each subject, alternating. `subjects` = [{ name, bundlePath,
 * bindings, durableObjects, state? }], `state` = { bundlePath, durableObjects } when the subject's
 * objects live in a second Worker; `scenario` builds the request (its make(ctx) and ok(status)).
 */
export async function coldStarts({ subjects, config, tmp, scenario, ctx, samples }) {
  // Each config holds the throwaway secrets: it lives in the bench's temp dir, removed at exit.
  const dirs = subjects.map((s) => {
    const dir = join(tmp, `cold-${s.name}`);
    mkdirSync(dir, { recursive: true });
    const worker = ({ bundlePath, durableObjects = [] }) => {
      const module = basename(bundlePath);
      copyFileSync(bundlePath, join(dir, module));
      return { ...config, module, bindings: s.bindings, durableObjects };
    };
    const subject = worker(s);
    const state = s.state && worker(s.state);
    if (state && state.module === subject.module)
      throw new Error(`cold start: ${s.name}: both bundles are ${state.module}`);
    writeFileSync(join(dir, "config.capnp"), capnpConfig({ subject, state }));
    return { name: s.name, dir };
  });
  const out = Object.fromEntries(subjects.map((s) => [s.name, []]));
  for (let i = 0; i < samples; i++) {
    // Alternate which subject goes first, so neither always follows the other.
    const order = i % 2 ? [...dirs].reverse() : dirs;
    for (const d of order) {
      const requests = { first: scenario.make(ctx, {}), warm: scenario.make(ctx, {}) };
      out[d.name].push(await sample(d.dir, requests, scenario.ok));
    }
  }
  return out;
}
