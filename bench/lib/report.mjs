// Turns the bench's measurements into the Markdown tables, the target verdicts and the
// final summary line. Pure functions of the results object.

const f = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const int = (n) => (Number.isFinite(n) ? String(Math.round(n)) : "n/a");
// "CPU excl. KV" can come out below zero where the calibrated per-op cost overshoots (many KV
// calls in one request, as in the listing): shown as such rather than as a negative CPU time.
const cpuShown = (n) => (Number.isFinite(n) && n < 0 ? "<0 (n/a)" : int(n));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);

const median = (xs) => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Ratios ours/bare for a scenario that ran cleanly on both subjects, else NaN: the median of
 * the per-round ratios (each round measures both subjects back to back), with their range.
 */
export function ratios(scenario) {
  const { bare, ours } = scenario.subjects ?? {};
  const none = { throughput: NaN, cpu: NaN, cpuExclKv: NaN, range: {} };
  if (!bare || !ours || bare.errors || ours.errors) return none;
  const per = (pick) => ours.rounds.map((r, i) => ratio(pick(r, ours), pick(bare.rounds[i], bare)));
  const spread = (xs) => [Math.min(...xs), Math.max(...xs)];
  const tp = per((r) => r.rps);
  const cpu = per((r) => r.cpuUsPerReq);
  // Where the floor's own figure is not above zero the subtraction overshot: no ratio then.
  const excl = bare.cpuExclKvUsPerReq > 0 ? per((r, m) => r.cpuUsPerReq - (m.kvCpuUsPerReq ?? NaN)) : [NaN];
  return {
    throughput: median(tp),
    cpu: median(cpu),
    cpuExclKv: median(excl),
    range: { throughput: spread(tp), cpu: spread(cpu), cpuExclKv: spread(excl) },
  };
}

const withRange = (value, range) =>
  Number.isFinite(value) && range?.every(Number.isFinite) ? `${f(value)} (${f(range[0])}-${f(range[1])})` : f(value);

/**
 * The local KV simulator runs inside workerd, so its work is in the /proc CPU figure but would
 * not be Worker CPU on Cloudflare. Counted operations x calibrated cost per operation = its share.
 */
export function addKvShare(results) {
  const unit = results.kvUnitCost;
  for (const s of Object.values(results.scenarios)) {
    if (s.skipped) continue;
    for (const [name, m] of Object.entries(s.subjects)) {
      const c = s.counts[name];
      m.kvCpuUsPerReq = c.kvReads * unit.get + c.kvWrites * unit.put + c.kvLists * unit.list;
      m.cpuExclKvUsPerReq = m.cpuUsPerReq - m.kvCpuUsPerReq;
    }
  }
}

export function kvLine(results) {
  const u = results.kvUnitCost;
  const op = (name) => `${name} ${int(u[name])} µs (${int(u.spread?.[name]?.[0])}-${int(u.spread?.[name]?.[1])})`;
  return `Local KV simulator, workerd CPU per operation (bench/lib/kv-calibrate.js, op minus empty request, median of rounds): ${op("get")}, ${op("put")}, ${op("list")}; an empty request costs ${int(u.noopRequestUs)} µs. "CPU excl. KV" = CPU - counted ops x these: an estimate.`;
}

export function stepsTable(results) {
  const rows = [
    "| hot-path step (one call, warm; whole requests through src/index.ts, the rest runtime primitives) | CPU µs (median of rounds) | rounds, lowest-highest |",
    "|---|---:|---:|",
  ];
  for (const step of results.steps) {
    rows.push(`| ${step.name} | ${f(step.us, 1)} | ${f(step.spread[0], 1)}-${f(step.spread[1], 1)} |`);
  }
  return rows.join("\n");
}

/** Cold starts: per measure, each subject's median (range) and the per-sample ours/bare ratios. */
export function coldTable(results) {
  const c = results.coldStart;
  if (!c) return "";
  const n = Math.min(c.bare.length, c.ours.length);
  const rows = [
    `| cold start, GET /connect (${n} fresh workerd processes each) | bare ms | ours ms | ours/bare | ours - bare ms |`,
    "|---|---:|---:|---:|---:|",
  ];
  const spread = (xs) => `${f(median(xs), 1)} (${f(Math.min(...xs), 1)}-${f(Math.max(...xs), 1)})`;
  for (const [key, label] of [
    ["total", "**fresh process to first answer**"],
    ["listen", "of which: start to listening (isolate, compile, top-level code)"],
    ["first", "of which: the first request"],
    ["cpu", "workerd CPU up to the first answer"],
    ["warm", "the next request (warm isolate)"],
  ]) {
    const bare = c.bare.map((s) => s[key]);
    const ours = c.ours.map((s) => s[key]);
    const pairs = ours.slice(0, n).map((o, i) => [o, bare[i]]);
    const r = pairs.map(([o, b]) => ratio(o, b));
    const d = pairs.map(([o, b]) => o - b);
    rows.push(
      `| ${label} | ${spread(bare)} | ${spread(ours)} | ${withRange(median(r), [Math.min(...r), Math.max(...r)])} | ${f(median(d), 1)} |`,
    );
  }
  return rows.join("\n");
}

export function mainTable(results) {
  const rows = [
    "| scenario | subject | req/s | p50 ms | p99 ms | CPU µs/req | CPU excl. KV µs/req | KV reads/req | KV writes/req | KV lists/req | DO req/req | upstream calls/req | errors | ours/bare req/s | ours/bare CPU | ours/bare CPU excl. KV |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [name, s] of Object.entries(results.scenarios)) {
    if (s.skipped) {
      rows.push(`| ${name} | - | skipped: ${s.route} not available |${" |".repeat(13)}`);
      continue;
    }
    const r = ratios(s);
    for (const subject of ["bare", "ours"]) {
      const m = s.subjects[subject];
      const c = s.counts[subject];
      const last =
        subject === "ours"
          ? ` ${withRange(r.throughput, r.range.throughput)} | ${withRange(r.cpu, r.range.cpu)} | ${withRange(r.cpuExclKv, r.range.cpuExclKv)} |`
          : " | | |";
      rows.push(
        `| ${name} | ${subject} | ${int(m.rps)} | ${f(m.p50Ms)} | ${f(m.p99Ms)} | ${int(m.cpuUsPerReq)} | ${cpuShown(m.cpuExclKvUsPerReq)} | ${f(c.kvReads)} | ${f(c.kvWrites)} | ${f(c.kvLists)} | ${f(c.doRequests)} | ${f(c.upstream)} | ${m.errors ? `${m.errors} ${JSON.stringify(m.statuses)}` : 0} |${last}`,
      );
    }
  }
  return rows.join("\n");
}

export function latencyTable(results) {
  const l = results.proxyLatency;
  if (!l) return "";
  const rows = ["| GET /employer/company, 1 connection | p50 ms | p99 ms | added p50 ms |", "|---|---:|---:|---:|"];
  for (const [label, m] of [
    ["upstream stand-in directly", l.direct],
    ["through bare", l.bare],
    ["through ours", l.ours],
  ]) {
    rows.push(
      `| ${label} | ${f(m.p50Ms, 3)} | ${f(m.p99Ms, 3)} | ${label.includes("directly") ? "-" : f(m.p50Ms - l.direct.p50Ms, 3)} |`,
    );
  }
  return rows.join("\n");
}

const sum = (a, b, key) => (a && b ? a[key] + b[key] : NaN);

/** Every target of issue 5 with its measured value and PASS / MISS (n/a when not measurable). */
export function targets(results) {
  const sc = results.scenarios;
  const cb = ratios(sc.callback ?? {});
  const px = ratios(sc.proxy ?? {});
  const connectCounts = sc.connect?.counts?.ours;
  const callbackCounts = sc.callback?.counts?.ours;
  const proxyCounts = sc.proxy?.skipped ? undefined : sc.proxy?.counts?.ours;
  const hookCounts = sc.webhook?.skipped ? undefined : sc.webhook?.counts?.ours;
  const dupCounts = sc["webhook-duplicate"]?.skipped ? undefined : sc["webhook-duplicate"]?.counts?.ours;
  const finchPaths = connectCounts && callbackCounts ? { ...connectCounts.upstreamPaths } : undefined;
  if (finchPaths) {
    for (const [k, v] of Object.entries(callbackCounts.upstreamPaths)) finchPaths[k] = (finchPaths[k] ?? 0) + v;
  }
  const onlySessionAndExchange =
    finchPaths &&
    Object.keys(finchPaths).every((k) => k === "POST /connect/sessions" || k === "POST /auth/token") &&
    finchPaths["POST /connect/sessions"] === 1 &&
    finchPaths["POST /auth/token"] === 1;
  const added = results.proxyLatency ? results.proxyLatency.ours.p50Ms - results.proxyLatency.direct.p50Ms : NaN;
  const t = (name, value, shown, limit, pass) => ({
    name,
    value,
    shown,
    limit,
    result: value === undefined || Number.isNaN(value) ? "n/a" : pass ? "PASS" : "MISS",
  });
  // A difference of two noisy figures: a verdict only when every round agrees.
  const estimate = (name, value, range, limit) => ({
    name,
    value,
    shown: withRange(value, range),
    limit: `<= ${limit}`,
    result: !Number.isFinite(value)
      ? "n/a"
      : range?.every((x) => x <= limit)
        ? "PASS (est.)"
        : range?.every((x) => x > limit)
          ? "MISS (est.)"
          : "unclear (est.)",
  });
  const step = (name) => results.steps?.find((x) => x.name === name)?.us;
  const stepDiff = (what) =>
    step(`whole ${what}, KV + Finch stubbed: ours`) - step(`whole ${what}, KV + Finch stubbed: bare`);
  const overBare = results.proxyLatency ? results.proxyLatency.ours.p50Ms - results.proxyLatency.bare.p50Ms : NaN;
  const proxyStep = stepDiff("proxied call");
  const budgetStep = (how) =>
    step(`whole proxied call, KV + Finch stubbed, rate budget on (${how}): ours`) -
    step("whole proxied call, KV + Finch stubbed: bare");
  const leasedStep = budgetStep("leases");
  const askingStep = budgetStep("every call asks");
  const callbackStep = stepDiff("callback");
  // Since issue 10 a callback's storage work runs in the connection's writer, a Durable Object
  // (another isolate, billed apart): the edge Worker's own share is the Worker-side step.
  const workerSide =
    step("callback, Worker side: writer answered by an in-isolate stub") -
    step("whole callback, KV + Finch stubbed: bare");
  const writerStep = step("writer: connect with event, in-memory storage");
  const writes = sum(connectCounts, callbackCounts, "kvWrites");
  const reads = sum(connectCounts, callbackCounts, "kvReads");
  return [
    t("callback throughput ours/bare", cb.throughput, f(cb.throughput), ">= 0.85", cb.throughput >= 0.85),
    t("callback CPU/request ours/bare", cb.cpu, f(cb.cpu), "<= 1.25", cb.cpu <= 1.25),
    estimate("  same, excl. local KV simulator (estimate)", cb.cpuExclKv, cb.range.cpuExclKv, 1.25),
    t("proxy p50 added latency (ms, c=1)", added, f(added, 3), "<= 1", added <= 1),
    // The figures docs/performance.md proposes in their place (what this machine can resolve),
    // and issue 18's: with the rate budget on, the proxy adds at most 0.3 ms p50 over bare (issue
    // 13 allowed 0.5), and the whole proxied call at most 150 µs of the isolate's CPU; issue 20's:
    // without the budget, at most 100 µs.
    t(
      `proxy p50 ours - bare (ms, c=1, rate budget ${results.meta?.rateBudget ?? "on"})`,
      overBare,
      f(overBare, 3),
      "<= 0.3",
      overBare <= 0.3,
    ),
    t("whole proxied call step, ours - bare (µs)", proxyStep, f(proxyStep, 1), "<= 100", proxyStep <= 100),
    t("  same, rate budget on, leases (µs)", leasedStep, f(leasedStep, 1), "<= 150", leasedStep <= 150),
    t("  same, rate budget on, every call asks (µs)", askingStep, f(askingStep, 1), "<= 150", askingStep <= 150),
    t("callback step, Worker side, ours - bare (µs)", workerSide, f(workerSide, 1), "<= 300", workerSide <= 300),
    t("writer's connect step, in its object (µs)", writerStep, f(writerStep, 1), "<= 100", writerStep <= 100),
    {
      name: "whole callback step in one isolate, ours - bare (µs)",
      shown: f(callbackStep, 1),
      limit: "reported",
      result: "-",
    },
    t("proxy CPU/request ours/bare", px.cpu, f(px.cpu), "<= 1.25", px.cpu <= 1.25),
    estimate("  same, excl. local KV simulator (estimate)", px.cpuExclKv, px.range.cpuExclKv, 1.25),
    { ...bundleBudget(results.bundle), name: "bundle min+gzip (KiB)", shown: f(results.bundle.minGzipKiB) },
    ...(results.bundle.state
      ? [
          {
            name: "  state Worker's bundle min+gzip (KiB)",
            shown: f(results.bundle.state.minGzipKiB),
            limit: "reported",
            result: "-",
          },
        ]
      : []),
    t("KV writes per successful connect", writes, f(writes), "<= 2", writes <= 2),
    t("KV reads per successful connect", reads, f(reads), "<= 1", reads <= 1),
    t(
      "Finch calls per successful connect",
      finchPaths ? Object.values(finchPaths).reduce((a, b) => a + b, 0) : NaN,
      finchPaths ? JSON.stringify(finchPaths) : "n/a",
      "session + exchange only",
      onlySessionAndExchange,
    ),
    t("KV reads per proxied call", proxyCounts?.kvReads, f(proxyCounts?.kvReads), "= 1", proxyCounts?.kvReads === 1),
    t(
      "DO requests per proxied call",
      proxyCounts?.doRequests,
      f(proxyCounts?.doRequests),
      "= 0",
      proxyCounts?.doRequests === 0,
    ),
    t(
      "rate-budget DO requests per proxied call",
      proxyCounts?.budgetRequests,
      f(proxyCounts?.budgetRequests),
      "<= 1",
      proxyCounts?.budgetRequests <= 1,
    ),
    t(
      "DO requests per callback",
      callbackCounts?.doRequests,
      f(callbackCounts?.doRequests),
      "<= 1",
      callbackCounts?.doRequests <= 1,
    ),
    t(
      "DO requests per webhook",
      hookCounts?.doRequests,
      f(hookCounts?.doRequests),
      "= 1",
      hookCounts?.doRequests === 1,
    ),
    t(
      "introspects per webhook",
      hookCounts?.upstreamPaths?.["GET /introspect"],
      f(hookCounts?.upstreamPaths?.["GET /introspect"]),
      "= 1",
      hookCounts?.upstreamPaths?.["GET /introspect"] === 1,
    ),
    t("KV writes per webhook", hookCounts?.kvWrites, f(hookCounts?.kvWrites), "<= 1", hookCounts?.kvWrites <= 1),
    // The writer's commit point (docs/consistency.md): its own SQLite rows and alarm writes.
    ...[
      ["callback", callbackCounts],
      ["webhook", hookCounts],
      ["duplicate webhook", dupCounts],
    ].map(([what, c]) => ({
      name: `writer SQLite rows written / alarm writes per ${what}`,
      shown: `${f(c?.writerSqlRows)} / ${f(c?.writerAlarms)}`,
      limit: "reported",
      result: "-",
    })),
    t("KV writes per duplicate webhook", dupCounts?.kvWrites, f(dupCounts?.kvWrites), "= 0", dupCounts?.kvWrites === 0),
    t(
      "upstream calls per proxied call",
      proxyCounts?.upstream,
      f(proxyCounts?.upstream),
      "= 1",
      proxyCounts?.upstream === 1,
    ),
  ];
}

export function targetTable(list) {
  const rows = ["| target | measured | limit | result |", "|---|---:|---|---|"];
  for (const x of list) rows.push(`| ${x.name} | ${x.shown} | ${x.limit} | ${x.result} |`);
  return rows.join("\n");
}

/**
 * The bundle budget (issue 11): what users feel is cold start, which a few KiB do not move, so
 * the budget only keeps growth deliberate. It is the public Worker's bundle, the one every public
 * isolate loads; the state Worker's (wrangler.state.toml, the Durable Objects) is reported beside
 * it, not gated. Over it, the bench fails (CI runs it with --smoke).
 */
export const BUNDLE_BUDGET_KIB = 48;

export function bundleBudget(bundle) {
  const pass = bundle.minGzipKiB <= BUNDLE_BUDGET_KIB;
  return { value: bundle.minGzipKiB, limit: `<= ${BUNDLE_BUDGET_KIB}`, pass, result: pass ? "PASS" : "FAIL" };
}

const sizeOf = (b) =>
  `${f(b.minGzipKiB)} KiB (${b.minGzipBytes} B; minified ${f(b.minBytes / 1024, 1)} KiB, unminified ${f(b.bytes / 1024, 1)} KiB)`;

export function bundleLine(bundle) {
  const kib = (items) => items.map((i) => `${i.source} ${f(i.bytes / 1024, 1)}`).join(", ");
  return [
    `Bundle (ours${bundle.state ? ", public Worker" : ""}, wrangler deploy --dry-run --minify, gzip): ${sizeOf(bundle)}. Budget ${BUNDLE_BUDGET_KIB} KiB: ${bundleBudget(bundle).result}.`,
    ...(bundle.state
      ? [`State Worker (wrangler.state.toml, the Durable Objects; not gated): ${sizeOf(bundle.state)}.`]
      : []),
    `Minified KiB by origin${bundle.state ? " (public Worker)" : ""}: ${kib(bundle.groups)}. Largest inputs: ${kib(bundle.largestInputs)}.`,
  ].join("\n");
}

/**
 * Marginal prices beyond the Workers Paid inclusions, USD. Workers: "Pricing" page of the
 * Cloudflare Workers docs (Standard usage model); KV: Cloudflare's Workers KV pricing
 * (reads $0.50/M; writes, deletes and lists $5.00/M); Durable Objects: requests $0.15/M (each
 * RPC method call on a stub is one request; duration is billed apart, see docs/performance.md).
 * Checked 2026-11.
 */
export const PRICES = { request: 0.3, cpuMs: 0.02, kvRead: 0.5, kvWrite: 5, kvList: 5, doRequest: 0.15 };

/** USD per million of a flow (a list of scenario names run once each), for one subject. */
function flowCost(results, names, subject) {
  const parts = names.map((n) => results.scenarios[n]);
  if (parts.some((p) => !p || p.skipped)) return undefined;
  const sumOf = (pick) => parts.reduce((a, p) => a + pick(p), 0);
  // CPU billed on Cloudflare excludes KV's own work: use the figure without the local simulator.
  const cpuMs = sumOf((p) => Math.max(0, p.subjects[subject].cpuExclKvUsPerReq)) / 1000;
  const reads = sumOf((p) => p.counts[subject].kvReads);
  const writes = sumOf((p) => p.counts[subject].kvWrites);
  const lists = sumOf((p) => p.counts[subject].kvLists);
  const dos = sumOf((p) => (p.counts[subject].doRequests ?? 0) + (p.counts[subject].budgetRequests ?? 0));
  const usd = {
    requests: names.length * PRICES.request,
    cpu: cpuMs * PRICES.cpuMs,
    kv: reads * PRICES.kvRead + writes * PRICES.kvWrite + lists * PRICES.kvList,
    do: dos * PRICES.doRequest,
  };
  return { cpuMs, reads, writes, lists, dos, usd, total: usd.requests + usd.cpu + usd.kv + usd.do };
}

export function costTable(results) {
  const flows = [
    ["connect (GET /connect + GET /callback)", ["connect", "callback"]],
    ["proxied call", ["proxy"]],
    ["webhook event", ["webhook"]],
    ["webhook redelivery (duplicate)", ["webhook-duplicate"]],
    ["listing", ["listing"]],
  ];
  const rows = [
    "| per million | subject | requests $ | CPU ms/op | CPU $ | KV reads | KV writes | KV lists | KV $ | DO requests | DO $ | total $ |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  results.costs = {};
  for (const [label, names] of flows) {
    for (const subject of ["bare", "ours"]) {
      const c = flowCost(results, names, subject);
      if (!c) continue;
      results.costs[`${label} / ${subject}`] = c;
      rows.push(
        `| ${label} | ${subject} | ${f(c.usd.requests)} | ${f(c.cpuMs, 3)} | ${f(c.usd.cpu, 3)} | ${f(c.reads)} | ${f(c.writes)} | ${f(c.lists)} | ${f(c.usd.kv)} | ${f(c.dos)} | ${f(c.usd.do)} | ${f(c.total)} |`,
      );
    }
  }
  return rows.join("\n");
}

export function lastLine(results) {
  const r = ratios(results.scenarios.callback ?? {});
  return `callback: ours/bare throughput ${f(r.throughput)}, cpu ${f(r.cpu)}`;
}
