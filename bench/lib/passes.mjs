// The measuring passes run for each scenario and subject:
// - timed:   plain bundles under load, subjects taking turns; throughput, latency, workerd CPU;
// - count:   KV-counting wrapper, a few sequential requests; KV and upstream calls per request.
// and, once per bench, the KV calibration and the step costs, both read from workerd's CPU time.
// A subject is { name, urls: { timed, counted, ... }, workerd: [pid], child, seeds }.
import { randomUUID } from "node:crypto";
import { Agent } from "node:http";
import { runLoad, send, summarizeLatencies } from "./load.mjs";
import { cpuMicros, sumCpuMicros } from "./procs.mjs";
import { callbackRequest } from "./scenarios.mjs";

export async function upstreamCounts(origin) {
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

const loadOn = (subject, scenario, ctx, plan) => (maxMs, maxRequests) =>
  runLoad(subject.urls.timed, {
    make: () => scenario.make(ctx, subject.seeds.timed),
    ok: scenario.ok,
    concurrency: plan.concurrency,
    maxRequests,
    maxMs,
  });

/**
 * Throughput, latency and workerd CPU (utime+stime from /proc, read around each slice) for
 * every subject. After a warm-up, the subjects take turns in `plan.rounds` slices, so a busy
 * neighbour on the machine weighs on all of them alike instead of on whichever ran last.
 */
export async function timedRuns(subjects, scenario, ctx, upstream, plan) {
  const acc = new Map(
    subjects.map((s) => [
      s,
      { requests: 0, errors: 0, statuses: {}, ms: 0, samples: [], cpu: 0, host: 0, up: 0, rounds: [] },
    ]),
  );
  // A scenario may cap its requests (see scenarios.mjs: a callback creates a connection each time).
  const warmMax = Math.min(plan.warmMax, scenario.maxRequests ?? Infinity);
  const runMax = Math.min(plan.runMax, scenario.maxRequests ?? Infinity);
  for (const s of subjects) await loadOn(s, scenario, ctx, plan)(plan.warmMs, warmMax);
  for (let round = 0; round < plan.rounds; round++) {
    for (const s of subjects) {
      const a = acc.get(s);
      const cpu0 = sumCpuMicros(s.workerd);
      const host0 = cpuMicros(s.child.pid);
      const up0 = await upstreamCounts(upstream);
      const m = await loadOn(s, scenario, ctx, plan)(plan.runMs / plan.rounds, Math.ceil(runMax / plan.rounds));
      const cpu = sumCpuMicros(s.workerd) - cpu0;
      a.rounds.push({ rps: m.rps, cpuUsPerReq: cpu / m.requests });
      a.cpu += cpu;
      a.host += cpuMicros(s.child.pid) - host0;
      a.up += total(delta(up0, await upstreamCounts(upstream)));
      a.requests += m.requests;
      a.errors += m.errors;
      a.ms += m.elapsedMs;
      a.samples.push(...m.samplesUs);
      for (const [k, n] of Object.entries(m.statuses)) a.statuses[k] = (a.statuses[k] ?? 0) + n;
    }
  }
  return Object.fromEntries(
    subjects.map((s) => {
      const a = acc.get(s);
      return [
        s.name,
        {
          errors: a.errors,
          statuses: a.statuses,
          elapsedMs: a.ms,
          rps: a.requests / (a.ms / 1000),
          ...summarizeLatencies(a.samples),
          cpuUsPerReq: a.cpu / a.requests,
          hostCpuUsPerReq: a.host / a.requests,
          upstreamPerReq: a.up / a.requests,
          rounds: a.rounds,
        },
      ];
    }),
  );
}

/** Counting pass on the KV-counting wrapper: KV calls and upstream calls per request. */
export async function countRun(subject, scenario, ctx, upstream, plan) {
  const kv = (reset) =>
    send(subject.urls.counted, { path: `/__bench/kv${reset ? "?reset=1" : ""}` }, { keepBody: true });
  await kv(true);
  const up0 = await upstreamCounts(upstream);
  let failures = 0;
  for (let i = 0; i < plan.countN; i++) {
    const res = await send(subject.urls.counted, scenario.make(ctx, subject.seeds.counted));
    if (!scenario.ok(res.status)) failures++;
  }
  const k = JSON.parse((await kv(false)).body);
  const paths = delta(up0, await upstreamCounts(upstream));
  const per = (n) => n / plan.countN;
  return {
    requests: plan.countN,
    failures,
    kvReads: per(k.getKeys),
    kvWrites: per(k.put + k.delete),
    kvLists: per(k.list),
    doRequests: per(k.doRequests ?? 0),
    budgetRequests: per(k.budgetRequests ?? 0),
    writerSqlRows: per(k.writerSqlRows ?? 0),
    writerAlarms: per(k.writerAlarms ?? 0),
    kvCalls: Object.fromEntries(Object.entries(k).map(([op, n]) => [op, per(n)])),
    upstream: per(total(paths)),
    upstreamPaths: Object.fromEntries(Object.entries(paths).map(([p, n]) => [p, per(n)])),
  };
}

/**
 * One request at a time, round-robin: the upstream stand-in directly, then through each
 * subject, repeated. Interleaving keeps a busy neighbour on the machine from favouring
 * whichever path happened to be measured in a quiet moment.
 */
export async function proxyLatency(subjects, scenario, ctx, upstream, plan) {
  const token = randomUUID();
  const paths = [
    {
      name: "direct",
      origin: upstream,
      make: () => ({ path: "/employer/company", headers: { authorization: `Bearer ${token}` } }),
    },
    ...subjects.map((s) => ({ name: s.name, origin: s.urls.timed, make: () => scenario.make(ctx, s.seeds.timed) })),
  ];
  const agents = paths.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const samples = paths.map(() => []);
  const round = async (record) => {
    for (let i = 0; i < paths.length; i++) {
      const res = await send(paths[i].origin, paths[i].make(), { agent: agents[i] });
      if (res.status !== 200) throw new Error(`latency pass: ${paths[i].name} answered ${res.status}`);
      if (record) samples[i].push(res.us);
    }
  };
  // Unrecorded rounds first: they open the connections and warm the JIT.
  for (let r = 0; r < plan.latWarm; r++) await round(false);
  const deadline = performance.now() + plan.latMs * paths.length;
  for (let r = 0; r < plan.latMax && performance.now() < deadline; r++) await round(true);
  for (const agent of agents) agent.destroy();
  return Object.fromEntries(paths.map((p, i) => [p.name, summarizeLatencies(samples[i])]));
}

/** workerd CPU per request of `path` (expected 204), over a batch (warmed up first unless `warm` is false). */
async function cpuPerRequest(origin, path, pids, plan, warm = true) {
  const load = (maxRequests, maxMs) =>
    runLoad(origin, {
      make: () => ({ path }),
      ok: (s) => s === 204,
      concurrency: plan.concurrency,
      maxRequests,
      maxMs,
    });
  if (warm) await load(plan.calWarm, 1000);
  const cpu0 = sumCpuMicros(pids);
  const m = await load(plan.calMax, plan.calMs);
  if (m.errors) throw new Error(`${path}: ${m.errors} failed requests ${JSON.stringify(m.statuses)}`);
  return (sumCpuMicros(pids) - cpu0) / m.requests;
}

/**
 * CPU of one KV operation in the local simulator: /<op> minus /noop on kv-calibrate.js, in
 * `plan.calRounds` rounds over all ops; the median per op, so a burst on the machine during
 * one slice does not set the figure. `spread` keeps each op's lowest and highest round.
 */
export async function calibrateKv(origin, pids, plan) {
  await send(origin, { path: "/seed" });
  const ops = ["get", "put", "list"];
  const rounds = { noop: [], get: [], put: [], list: [] };
  const slice = { ...plan, calMax: Math.ceil(plan.calMax / plan.calRounds), calMs: plan.calMs / plan.calRounds };
  for (let r = 0; r < plan.calRounds; r++) {
    const noop = await cpuPerRequest(origin, "/noop", pids, slice);
    rounds.noop.push(noop);
    for (const op of ops) rounds[op].push((await cpuPerRequest(origin, `/${op}`, pids, slice)) - noop);
  }
  const unit = { noopRequestUs: median(rounds.noop), spread: {} };
  for (const op of ops) {
    unit[op] = Math.max(0, median(rounds[op]));
    unit.spread[op] = [Math.min(...rounds[op]), Math.max(...rounds[op])];
  }
  return unit;
}

function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * CPU of one call of each hot-path step (bench/steps/worker.js). Its fixtures start from a
 * browser coming back from Finch, built like the callback scenario's. Like the KV calibration,
 * in `plan.calRounds` rounds that each take a slice of every step in turn (minus that round's
 * empty step): the median per step, so a burst on the shared machine during one slice does not
 * set a figure, and `spread` keeps its lowest and highest round. Warm-ups in the first round only.
 */
export async function stepCosts(origin, pids, plan, ctx) {
  const setup = await send(
    origin,
    { method: "POST", path: "/__setup", body: JSON.stringify(callbackRequest(ctx)) },
    { keepBody: true },
  );
  if (setup.status !== 204) throw new Error(`step costs: setup answered ${setup.status} ${setup.body ?? ""}`);
  const names = JSON.parse((await send(origin, { path: "/" }, { keepBody: true })).body).filter((n) => n !== "noop");
  const k = plan.stepK;
  const slice = { ...plan, calMax: Math.ceil(plan.calMax / plan.calRounds), calMs: plan.calMs / plan.calRounds };
  const per = (name, warm) => cpuPerRequest(origin, `/${encodeURIComponent(name)}?n=${k}`, pids, slice, warm);
  const rounds = new Map(names.map((name) => [name, []]));
  for (let r = 0; r < plan.calRounds; r++) {
    const noop = await per("noop", r === 0);
    for (const name of names) rounds.get(name).push(((await per(name, r === 0)) - noop) / k);
  }
  return names.map((name) => {
    const us = rounds.get(name);
    return { name, us: median(us), spread: [Math.min(...us), Math.max(...us)] };
  });
}
