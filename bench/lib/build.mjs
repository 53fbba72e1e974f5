// Bundles both subjects with `wrangler deploy --dry-run --outdir` (what `wrangler deploy` would
// upload, nothing sent anywhere) and measures the production bundle minified + gzipped.
// Ours is two Workers where the checkout has a wrangler.state.toml: the public one (measured and
// gated) and the state one holding the Durable Object classes (built to run them, its size only
// reported); an older checkout without that file is one Worker, as before the split.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { readWranglerConfigs, WRANGLER_BIN, wranglerEnv } from "../../scripts/lib/dev-server.mjs";
import { REPO_ROOT } from "../../scripts/lib/dev-vars.mjs";

const run = promisify(execFile);
// The state Worker's configuration, beside wrangler.toml in a checkout that has one.
const STATE_TOML = "wrangler.state.toml";

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
  // One main module: index.js for ours, state.js for its state Worker, worker.js for bare (`main`).
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
 * The production Worker's runtime settings (compatibility date/flags, [vars], Durable Object
 * bindings) from its wrangler.toml, and the state Worker's name and bindings from
 * wrangler.state.toml when there is one, read by wrangler's own parser.
 */
async function productionConfig(oursDir) {
  const stateToml = join(oursDir, STATE_TOML);
  const [raw, state] = await readWranglerConfigs([
    join(oursDir, "wrangler.toml"),
    ...(existsSync(stateToml) ? [stateToml] : []),
  ]);
  return {
    compatibilityDate: raw.compatibility_date,
    compatibilityFlags: raw.compatibility_flags ?? [],
    vars: raw.vars ?? {},
    durableObjects: raw.durable_objects?.bindings ?? [],
    state: state && { name: state.name, durableObjects: state.durable_objects?.bindings ?? [] },
  };
}

/** min+gzip size of a minified bundle, and its unminified size. */
function sizes(bundlePath, minBundlePath) {
  const minified = readFileSync(minBundlePath);
  const gzipBytes = gzipSync(minified).byteLength;
  return {
    bytes: readFileSync(bundlePath).byteLength,
    minBytes: minified.byteLength,
    minGzipBytes: gzipBytes,
    minGzipKiB: gzipBytes / 1024,
  };
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

/**
 * `oursDir`: where the production Worker's wrangler.toml is (another checkout for A/B runs).
 * `state` (and `bundle.state`, its size) only when that checkout has a wrangler.state.toml.
 */
export async function buildSubjects(tmp, oursDir = REPO_ROOT) {
  const bench = (name) => ["-c", join(REPO_ROOT, "bench", name, "wrangler.toml")];
  const split = existsSync(join(oursDir, STATE_TOML));
  const stateToml = ["-c", join(oursDir, STATE_TOML)];
  const [ours, oursMin, bare, steps, config, state, stateMin] = await Promise.all([
    dryRun("ours", join(tmp, "ours"), [], oursDir),
    dryRun("ours (minified)", join(tmp, "ours-min"), ["--minify", "--metafile"], oursDir),
    dryRun("bare", join(tmp, "bare"), bench("bare")),
    // It imports only src/index.ts, the Worker's public entry: a failure here is a real one.
    dryRun("steps", join(tmp, "steps"), bench("steps")),
    productionConfig(oursDir),
    split ? dryRun("state", join(tmp, "state"), stateToml, oursDir) : undefined,
    split ? dryRun("state (minified)", join(tmp, "state-min"), [...stateToml, "--minify"], oursDir) : undefined,
  ]);
  return {
    ours,
    bare,
    steps,
    config,
    state,
    bundle: {
      ...sizes(ours.bundlePath, oursMin.bundlePath),
      wranglerReport: oursMin.report,
      ...composition(join(oursMin.dir, "bundle-meta.json")),
      state: state && { ...sizes(state.bundlePath, stateMin.bundlePath), wranglerReport: stateMin.report },
    },
  };
}
