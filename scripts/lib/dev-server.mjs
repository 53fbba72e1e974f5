// Starting and stopping the local stack: the Finch mock, and the Worker with the state Worker
// (its Durable Objects, wrangler.state.toml), each a `wrangler dev` in its own process group so
// that stopping a group also stops its `workerd` children. The two Workers share one
// `wrangler dev` (two configs): one local KV, one set of queues, and the Worker's script_name
// bindings reach the state Worker's objects as they do in production.
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { REPO_ROOT } from "./dev-vars.mjs";

export const WRANGLER_BIN = join(REPO_ROOT, "node_modules", ".bin", "wrangler");
export const HOST = "127.0.0.1";

/**
 * Environment for every wrangler run: no telemetry, no outside lookups. The banner is hidden
 * because printing it triggers an npm registry "update available" check.
 */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_HIDE_BANNER: "true",
    ...extra,
  };
}

export function isPortFree(port, host = HOST) {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => done(true)));
  });
}

/** `preferred` when free, otherwise any free port picked by the OS. */
export async function freePort(preferred, host = HOST) {
  if (preferred && (await isPortFree(preferred, host))) return preferred;
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** The `main` entry declared in a wrangler.toml, or null. */
export function wranglerMain(configPath) {
  if (!existsSync(configPath)) return null;
  const m = /^\s*main\s*=\s*["']([^"']+)["']/m.exec(readFileSync(configPath, "utf8"));
  return m ? m[1] : null;
}

/**
 * Wrangler configs (paths) as wrangler itself reads them (`experimental_readRawConfig`), in a
 * child process: importing wrangler here would install its SIGINT/SIGTERM handlers, which exit
 * at once and skip our cleanup (and the bench's).
 */
export async function readWranglerConfigs(paths) {
  const script = `const { experimental_readRawConfig } = await import("wrangler");
const read = (config) => experimental_readRawConfig({ config }).rawConfig;
process.stdout.write(JSON.stringify(process.argv.slice(1).map(read)));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script, ...paths], {
    cwd: REPO_ROOT,
    env: wranglerEnv(),
    timeout: 60_000,
  });
  return JSON.parse(stdout);
}

/**
 * The state Worker's config for one `wrangler dev` run: wrangler.state.toml as wrangler reads
 * it, with `vars` over its [vars], written as a JSON config in the repository root (so its
 * `main` and the root .dev.vars apply as they do to wrangler.state.toml). A second config of a
 * multi-config `wrangler dev` takes no --var, and its writer must call the mock, not Finch.
 * One file per port, so two stacks (e2e) never rewrite each other's. Returns its path.
 */
export async function writeStateDevConfig(port, vars) {
  const [raw] = await readWranglerConfigs([join(REPO_ROOT, "wrangler.state.toml")]);
  const path = join(REPO_ROOT, `.wrangler.state.dev-${port}.json`);
  writeFileSync(path, `${JSON.stringify({ ...raw, vars: { ...raw.vars, ...vars } }, null, 2)}\n`);
  process.once("exit", () => rmSync(path, { force: true }));
  return path;
}

/**
 * Spawns `wrangler dev` detached (own process group), output prefixed with `[label]`.
 * The returned child has `.exitInfo` (a promise of { code, signal }).
 */
export function spawnWrangler(
  label,
  args,
  { cwd = REPO_ROOT, env = wranglerEnv(), out = process.stdout, err = process.stderr } = {},
) {
  const child = spawn(WRANGLER_BIN, ["dev", ...args], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pipe = (stream, sink) => {
    createInterface({ input: stream }).on("line", (line) => sink.write(`[${label}] ${line}\n`));
  };
  pipe(child.stdout, out);
  pipe(child.stderr, err);
  child.label = label;
  child.exitInfo = new Promise((done) => {
    child.once("exit", (code, signal) => done({ code, signal }));
    child.once("error", (error) => done({ code: null, signal: null, error }));
  });
  return child;
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

/** SIGTERM the child's process group, SIGKILL it after `graceMs` if anything is still alive. */
export async function stopGroup(child, graceMs = 5000) {
  if (!child?.pid) return;
  signalGroup(child.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(child.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(child.pid)) signalGroup(child.pid, "SIGKILL");
}

/** Synchronous last resort (process 'exit' handler): SIGKILL the group. */
export function killGroupNow(child) {
  if (child?.pid) signalGroup(child.pid, "SIGKILL");
}

/** Polls `url` until any HTTP answer arrives. Rejects on timeout or when `child` exits first. */
export async function waitForHttp(url, { timeoutMs = 60_000, child } = {}) {
  let exited = false;
  child?.exitInfo.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${child.label ?? "process"} exited before answering on ${url}`);
    try {
      const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`no HTTP answer from ${url} within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * Starts mock + Worker (with the state Worker) and waits until both answer. Secrets must already be prepared
 * (see prepareDevVars). `onSpawn(child)` is called as each process starts (so a caller can
 * stop it on a signal during startup). Returns handles and a `stop()` that stops every process group.
 */
export async function startDevServers({
  port = 8787,
  mockPort = 8788,
  readyTimeoutMs = 90_000,
  out = process.stdout,
  err = process.stderr,
  extraWorkerVars = {},
  onSpawn = () => {},
} = {}) {
  const base = `http://${HOST}:${port}`;
  const mockBase = `http://${HOST}:${mockPort}`;
  for (const p of [port, mockPort]) {
    if (!(await isPortFree(p))) {
      throw new Error(`port ${p} on ${HOST} is already in use (another \`npm start\`? see \`pgrep -a workerd\`)`);
    }
  }
  const main = wranglerMain(join(REPO_ROOT, "wrangler.toml"));
  if (!main || !existsSync(join(REPO_ROOT, main))) {
    throw new Error(`the Worker entry ${main ?? "(no main in wrangler.toml)"} does not exist yet`);
  }
  const mockInspector = await freePort(9230);
  const workerInspector = await freePort(mockInspector === 9229 ? 9231 : 9229);
  const common = ["--ip", HOST, "--show-interactive-dev-session=false"];
  const mock = spawnWrangler(
    "mock-finch",
    [
      "-c",
      "mock-finch/wrangler.toml",
      ...common,
      "--port",
      String(mockPort),
      "--inspector-port",
      String(mockInspector),
      "--var",
      `MOCK_EMBEDDED_CALLBACK_URL:${base}/callback`,
      "--var",
      `MOCK_WEBHOOK_URL:${base}/webhooks/finch`,
    ],
    { out, err },
  );
  onSpawn(mock);
  const vars = {
    FINCH_API_BASE_URL: mockBase,
    FINCH_REDIRECT_URI: `${base}/callback`,
    ALLOWED_RETURN_ORIGINS: base,
    ...extraWorkerVars,
  };
  const stateConfig = await writeStateDevConfig(port, vars);
  const worker = spawnWrangler(
    "worker",
    [
      "-c",
      "wrangler.toml",
      "-c",
      stateConfig,
      ...common,
      "--port",
      String(port),
      "--inspector-port",
      String(workerInspector),
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { out, err },
  );
  onSpawn(worker);
  const stop = async () => {
    await Promise.all([stopGroup(worker), stopGroup(mock)]);
    rmSync(stateConfig, { force: true });
  };
  try {
    await Promise.all([
      waitForHttp(`${mockBase}/_mock/health`, { timeoutMs: readyTimeoutMs, child: mock }),
      waitForHttp(`${base}/healthz`, { timeoutMs: readyTimeoutMs, child: worker }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, mockBase, worker, mock, stop };
}
