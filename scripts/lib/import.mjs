// Bringing existing Finch access tokens into the Worker: POST /api/connections/import, one token
// per request, from a JSON-lines file. Resumable: every final outcome is appended to a journal
// (line number, outcome, ids; never a token), and a new run skips the lines it already holds.
// The Worker's import is idempotent, so a line whose answer was lost to a kill is simply
// "already present" the second time: each token is stored exactly once.
import { appendFileSync, createReadStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

/** Answers that end a line for good; anything else (429, 5xx, network) is retried. */
const FIELDS = ["access_token", "customer_id", "customer_name", "customer_email"];
const MAX_ATTEMPTS = 8;

export const journalPathFor = (file) => `${file}.import-journal.jsonl`;
export const reportPathFor = (file) => `${file}.import-report.json`;

/** The lines of the journal: final outcomes by line number. */
export function readJournal(path) {
  const done = new Map();
  if (!existsSync(path)) return done;
  for (const text of readFileSync(path, "utf8").split("\n")) {
    if (!text.trim()) continue;
    try {
      const entry = JSON.parse(text);
      if (Number.isInteger(entry.line) && typeof entry.outcome === "string") done.set(entry.line, entry);
    } catch {
      // A line cut short by a kill: that line is simply done again.
    }
  }
  return done;
}

/** The request body for one line, or why it cannot be sent. Never echoes the token. */
export function parseLine(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { refused: "invalid_json" };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { refused: "not_an_object" };
  for (const name of ["access_token", "customer_id", "customer_name"]) {
    if (typeof value[name] !== "string" || value[name] === "") return { refused: `missing_${name}` };
  }
  const body = {};
  for (const name of FIELDS) if (typeof value[name] === "string" && value[name] !== "") body[name] = value[name];
  return { body, customerId: value.customer_id };
}

export async function countLines(file) {
  let n = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity }))
    if (text.trim()) n++;
  return n;
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

function retryAfterMs(res) {
  const ms = Number(res.headers.get("retry-after-ms"));
  if (res.headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const s = Number(res.headers.get("retry-after"));
  return res.headers.has("retry-after") && Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/** Spaces requests evenly at `perMinute`, across all workers. */
function pacer(perMinute) {
  const gap = 60_000 / perMinute;
  let next = 0;
  return async (signal) => {
    const now = Date.now();
    const at = Math.max(now, next);
    next = at + gap;
    if (at > now) await sleep(at - now, signal);
  };
}

class Fatal extends Error {}

/** Sends one line until it has a final answer (or attempts run out: undefined, retried next run). */
async function importOne(opts, body, signal) {
  const endpoint = new URL("/api/connections/import", opts.url);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS && !signal.aborted; attempt++) {
    await opts.pace(signal);
    if (signal.aborted) return undefined;
    let res;
    try {
      res = await opts.fetch(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${opts.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      await sleep(Math.min(30_000, 500 * 2 ** attempt), signal);
      continue;
    }
    const answer = await res.json().catch(() => ({}));
    if (res.status === 201 || res.status === 200) {
      return {
        outcome: answer.imported === false ? "already_present" : "imported",
        connection_id: answer.connection_id,
      };
    }
    if (res.status === 401) throw new Fatal("the Worker refused the API key (401): check FINCH_EDGE_API_KEY");
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      await sleep(retryAfterMs(res) ?? Math.min(30_000, 500 * 2 ** attempt), signal);
      continue;
    }
    return { outcome: "refused", reason: answer?.error?.code ?? `http_${res.status}` };
  }
  return undefined;
}

/**
 * Imports every line of `file` not already in the journal. `onProgress(stats)` after each line.
 * Resolves with the stats; rejects on a fatal answer (bad API key). Stops early on `signal`.
 */
export async function runImport(opts) {
  const journalPath = opts.journal ?? journalPathFor(opts.file);
  const done = readJournal(journalPath);
  const total = await countLines(opts.file);
  const stats = {
    total,
    done: done.size,
    imported: 0,
    already_present: 0,
    refused: 0,
    unfinished: 0,
    skipped: done.size,
  };
  for (const entry of done.values()) stats[entry.outcome] = (stats[entry.outcome] ?? 0) + 1;
  const signal = opts.signal ?? new AbortController().signal;
  const run = { ...opts, pace: pacer(opts.perMinute ?? 120), fetch: opts.fetch ?? fetch };
  const record = (entry) => {
    appendFileSync(journalPath, `${JSON.stringify(entry)}\n`);
    stats.done++;
    stats[entry.outcome]++;
    opts.onProgress?.(stats);
  };

  const lines = createInterface({ input: createReadStream(opts.file), crlfDelay: Infinity })[Symbol.asyncIterator]();
  let lineNo = 0;
  const nextLine = async () => {
    for (;;) {
      const { value, done: end } = await lines.next();
      if (end) return undefined;
      if (!value.trim()) continue;
      lineNo++;
      if (!done.has(lineNo)) return { line: lineNo, text: value };
    }
  };
  let fatal;
  const worker = async () => {
    for (;;) {
      if (signal.aborted || fatal) return;
      const item = await nextLine();
      if (!item) return;
      const parsed = parseLine(item.text);
      if (parsed.refused) {
        record({ line: item.line, outcome: "refused", reason: parsed.refused });
        continue;
      }
      try {
        const result = await importOne(run, parsed.body, signal);
        if (!result) {
          stats.unfinished++;
          continue;
        }
        record({ line: item.line, customer_id: parsed.customerId, ...result });
      } catch (e) {
        if (e instanceof Fatal) fatal = e;
        else throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  if (fatal) throw fatal;
  stats.interrupted = signal.aborted;
  return stats;
}

/** The report: totals and every line's outcome (ids and reasons only, never a token). */
export function writeReport(path, file, journalPath, stats) {
  const entries = [...readJournal(journalPath).values()].sort((a, b) => a.line - b.line);
  const totals = { lines: stats.total, imported: 0, already_present: 0, refused: 0 };
  for (const e of entries) totals[e.outcome] = (totals[e.outcome] ?? 0) + 1;
  totals.not_done = stats.total - entries.length;
  const report = {
    file,
    written_at: new Date().toISOString(),
    complete: totals.not_done === 0,
    totals,
    lines: entries,
  };
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
