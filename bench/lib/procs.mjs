// Child processes of the bench (each in its own process group, so stopping the group also
// stops workerd) and their CPU time read from /proc/<pid>/stat.
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { killGroupNow, stopGroup } from "../../scripts/lib/dev-server.mjs";

const started = new Set();

/**
 * Spawns `node script args` detached, writes `input` to its stdin, and resolves with the
 * first line it prints as JSON. Rejects (after stopping it) on exit or timeout first.
 */
export async function startJsonChild(label, script, args, { input = "", env, timeoutMs = 60_000 } = {}) {
  const child = spawn(process.execPath, [script, ...args], { detached: true, env, stdio: ["pipe", "pipe", "pipe"] });
  child.label = label;
  started.add(child);
  const errTail = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    errTail.push(line);
    if (errTail.length > 30) errTail.shift();
  });
  child.stdin.end(input);
  const lines = createInterface({ input: child.stdout });
  try {
    const first = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: not ready within ${timeoutMs} ms`)), timeoutMs);
      lines.once("line", (line) => {
        clearTimeout(timer);
        resolve(line);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${label} exited (${signal ?? code}) before it was ready:\n${errTail.join("\n")}`));
      });
    });
    lines.on("line", () => {}); // keep draining
    child.ready = JSON.parse(first);
    return child;
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** Adds a child the caller spawned (detached, its own process group) to those stopped at exit. */
export function track(child, label) {
  child.label = label;
  started.add(child);
}

export async function stopChild(child) {
  if (!child) return;
  await stopGroup(child, 5000);
  started.delete(child);
}

export const stopAll = () => Promise.all([...started].map(stopChild));

/** Last resort from a synchronous 'exit' handler. */
export const killAllNow = () => {
  for (const child of started) killGroupNow(child);
};

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** Fields of /proc/<pid>/stat after the "(comm)" field: index 0 is field 3 (state). */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return {
    comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")),
    rest: text.slice(text.lastIndexOf(")") + 2).split(" "),
  };
}

/** PIDs of processes whose parent is `ppid` and whose name is `comm`. */
export function childPids(ppid, comm) {
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { comm: name, rest } = statFields(entry);
      if (Number(rest[1]) === ppid && name === comm) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** utime + stime of a process (all its threads, including ended ones), in microseconds. */
export function cpuMicros(pid) {
  const { rest } = statFields(pid);
  return ((Number(rest[11]) + Number(rest[12])) * 1e6) / CLK_TCK;
}

export const sumCpuMicros = (pids) => pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
export const clockTicksPerSecond = CLK_TCK;
