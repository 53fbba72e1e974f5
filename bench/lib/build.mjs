// Bundles both subjects with `wrangler deploy --dry-run --outdir` (what `wrangler deploy` would
// upload, nothing sent anywhere) and measures the production bundle minified + gzipped.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { WRANGLER_BIN, wranglerEnv } from "../../scripts/lib/dev-server.mjs";
import { REPO_ROOT } from "../../scripts/lib/dev-vars.mjs";

const run = promisify(execFile);

async function dryRun(label, outdir, extra = [], cwd = REPO_ROOT) {
  let stdout;
  try {
    ({ stdout } = await run(WRANGLER_BIN, ["deploy", "--dry-run", "--outdir", outdir, ...extra], {
      cwd,
      env: wranglerEnv(),
      maxBuffer: 16 * 1024 * 1024,
      timeout: 120_000,
    }));
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`bundling ${label} failed:\n${output}`);
  }
  // One main module: index.js for ours, worker.js for bare (named after `main`).
  const [main, ...more] = readdirSync(outdir).filter((f) => f.endsWith(".js"));
  if (!main || more.length) throw new Error(`bundling ${label}: expected one .js module in ${outdir}`);
  return { dir: outdir, bundlePath: join(outdir, main), report: /Total Upload: .*$/m.exec(stdout)?.[0] };
}

/**
 * What fills the minified bundle: bytes per group (our own src/ files together, each package
 * on its own) and the largest single inputs, from esbuild's metafile.
 */
function composition(metafilePath) {
  const meta = JSON.parse(readFileSync(metafilePath, "utf8"));
  const groups = {};
  const files = [];
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs ?? {})) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
      const group = pkg ?? (input.includes("src/") ? "src/ (ours)" : input);
      groups[group] = (groups[group] ?? 0) + bytesInOutput;
      files.push({
        source: pkg ? input.replace(/^.*node_modules\//, "") : input.replace(/^.*?(src\/)/, "$1"),
        bytes: bytesInOutput,
      });
    }
  }
  const sorted = (entries) => entries.sort((a, b) => b.bytes - a.bytes);
  return {
    groups: sorted(Object.entries(groups).map(([source, bytes]) => ({ source, bytes }))),
    largestInputs: sorted(files).slice(0, 8),
  };
}

/**
 * The production Worker's runtime settings (compatibility date/flags, [vars]) from its
 * wrangler.toml, read by wrangler's own parser in a child process: importing wrangler here
 * would install its SIGINT/SIGTERM handlers, which exit at once and skip the bench's cleanup.
 */
async function productionConfig(oursDir) {
  const script = `const { experimental_readRawConfig } = await import("wrangler");
const { rawConfig } = experimental_readRawConfig({ config: process.argv[1] });
process.stdout.write(JSON.stringify({ compatibilityDate: rawConfig.compatibility_date,
  compatibilityFlags: rawConfig.compatibility_flags ?? [], vars: rawConfig.vars ?? {},
  durableObjects: rawConfig.durable_objects?.bindings ?? [] }));`;
  const { stdout } = await run(
    process.execPath,
    ["--input-type=module", "-e", script, join(oursDir, "wrangler.toml")],
    {
      cwd: REPO_ROOT,
      env: wranglerEnv(),
      timeout: 60_000,
    },
  );
  return JSON.parse(stdout);
}

/**
 * The step worker's bundle alone (from `dir`, a checkout: its bench/steps/ and src/), with the
 * production Worker's runtime settings: what bench/profile.mjs runs (no minified bundle, no bare).
 */
export async function buildSteps(tmp, dir = REPO_ROOT) {
  const [steps, config] = await Promise.all([
    dryRun("steps", tmp, ["-c", join(dir, "bench", "steps", "wrangler.toml")], dir),
    productionConfig(dir),
  ]);
  return { steps, config };
}

/** `oursDir`: where the production Worker's wrangler.toml is (another checkout for A/B runs). */
export async function buildSubjects(tmp, oursDir = REPO_ROOT) {
  const bench = (name) => ["-c", join(REPO_ROOT, "bench", name, "wrangler.toml")];
  const [ours, oursMin, bare, steps, config] = await Promise.all([
    dryRun("ours", join(tmp, "ours"), [], oursDir),
    dryRun("ours (minified)", join(tmp, "ours-min"), ["--minify", "--metafile"], oursDir),
    dryRun("bare", join(tmp, "bare"), bench("bare")),
    // It imports only src/index.ts, the Worker's public entry: a failure here is a real one.
    dryRun("steps", join(tmp, "steps"), bench("steps")),
    productionConfig(oursDir),
  ]);
  const minified = readFileSync(oursMin.bundlePath);
  const gzipBytes = gzipSync(minified).byteLength;
  return {
    ours,
    bare,
    steps,
    config,
    bundle: {
      bytes: readFileSync(ours.bundlePath).byteLength,
      minBytes: minified.byteLength,
      minGzipBytes: gzipBytes,
      minGzipKiB: gzipBytes / 1024,
      wranglerReport: oursMin.report,
      ...composition(join(oursMin.dir, "bundle-meta.json")),
    },
  };
}
