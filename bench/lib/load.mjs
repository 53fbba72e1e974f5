// A small closed-loop load generator: `concurrency` keep-alive connections, each sending its
// next request as soon as the previous answer is read in full. Bounded by a request count and
// a time limit, whichever comes first. Latency is measured per request with hrtime (µs), so
// sub-millisecond differences (the proxy's added latency) stay visible.
import { Agent, request } from "node:http";

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Sends one request. `req` = { method, path, headers, body }. Resolves (never rejects) with
 * { status, us, headers, body } (body only when `keepBody`), status 0 on a network error.
 */
export function send(origin, req, { agent, keepBody = false } = {}) {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - t0) / 1000;
    const r = request(
      { agent, host: hostname, port, method: req.method ?? "GET", path: req.path, headers: req.headers ?? {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => {
          if (keepBody) chunks.push(c);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            us: elapsed(),
            headers: res.headers,
            body: keepBody ? Buffer.concat(chunks).toString("utf8") : undefined,
          }),
        );
        res.on("error", (e) => resolve({ status: 0, us: elapsed(), error: e.code ?? e.message }));
      },
    );
    r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error("timeout")));
    r.on("error", (e) => resolve({ status: 0, us: elapsed(), error: e.code ?? e.message }));
    r.end(req.body);
  });
}

const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN;

/**
 * Runs `make(i)` -> request until `maxRequests` were sent or `maxMs` passed.
 * `ok(status)` decides what counts as a success; anything else is reported as an error.
 */
export async function runLoad(origin, { make, ok, concurrency, maxRequests, maxMs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const statuses = {};
  let issued = 0;
  let errors = 0;
  const deadline = performance.now() + maxMs;
  const started = performance.now();
  const loop = async () => {
    while (issued < maxRequests && performance.now() < deadline) {
      const i = issued++;
      const res = await send(origin, make(i), { agent });
      const key = res.status === 0 ? `net:${res.error}` : String(res.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (!ok(res.status)) errors++;
      latencies.push(res.us);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return {
    errors,
    statuses,
    elapsedMs,
    rps: latencies.length / (elapsedMs / 1000),
    ...summarizeLatencies(latencies),
    samplesUs: latencies,
  };
}

/** Count, p50 and p99 (ms) of latencies given in µs. */
export function summarizeLatencies(latenciesUs) {
  const sorted = [...latenciesUs].sort((a, b) => a - b);
  return { requests: sorted.length, p50Ms: percentile(sorted, 0.5) / 1000, p99Ms: percentile(sorted, 0.99) / 1000 };
}
