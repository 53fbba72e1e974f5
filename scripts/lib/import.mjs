// Bringing existing Finch access tokens into the Worker: POST /api/connections/import, one token
// per request, from a JSON-lines file. Resumable: every final answer is appended to a journal
// (keyed by a MAC of the line's request, see import-journal.mjs; never a token), and a new run
// skips the lines it already holds. The Worker's import is idempotent, so a line whose answer
// was lost to a kill is simply "already present" the second time: each token is stored once.
//
// Where the tokens may go: https, or plain http on loopback only (npm start), and never on to
// wherever a redirect points (fetch would re-POST the API key and the token there).
import { writeFileSync } from "node:fs";
import {
  countLines,
  fileLines,
  journalPathFor,
  lineMac,
  openJournal,
  parseLine,
  readJournal,
} from "./import-journal.mjs";

export { journalPathFor, reportPathFor } from "./import-journal.mjs";

const MAX_ATTEMPTS = 8;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The Worker's origin, or an Error saying why the tokens may not be sent there. */
export function workerOrigin(text) {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new Error("--url must be the Worker's absolute https URL");
  }
  if (url.protocol === "http:" && !LOOPBACK.has(url.hostname)) {
    throw new Error(
      "--url must be https (plain http only on 127.0.0.1, localhost or [::1]): it carries the API key and every token",
    );
  }
  if (url.username || url.password) throw new Error("--url must not carry a user name or password");
  return url.origin;
}

/** Waits `ms`, or less when `signal` aborts (the listener goes with the timer: one per wait adds up). */
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
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

/** An answer that stops the whole run: every other line would get the same. */
class Fatal extends Error {}

/** Where a redirect pointed, as an origin only: its path and query may hold anything. */
function redirectTarget(res, endpoint) {
  const location = res.headers.get("location");
  if (!location || !URL.canParse(location, endpoint)) return "no usable Location";
  return new URL(location, endpoint).origin;
}

/** Sends one line until it has a final answer (or attempts run out: undefined, retried next run). */
async function importOne(opts, body, signal) {
  const endpoint = new URL("/api/connections/import", opts.origin);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS && !signal.aborted; attempt++) {
    await opts.pace(signal);
    if (signal.aborted) return undefined;
    let res;
    try {
      res = await opts.fetch(endpoint, {
        method: "POST",
        redirect: "manual",
        headers: { authorization: `Bearer ${opts.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      await sleep(Math.min(30_000, 500 * 2 ** attempt), signal);
      continue;
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new Fatal(
        `the Worker answered ${res.status}, a redirect to ${redirectTarget(res, endpoint)}; not followed (it would send the API key and the tokens there). If that is the Worker, pass it as --url.`,
      );
    }
    const answer = await res.json().catch(() => ({}));
    if (res.status === 201 || res.status === 200) {
      if (typeof answer?.connection_id !== "string" || typeof answer.imported !== "boolean") {
        throw new Fatal(`--url answered ${res.status} but not as finch-connect-edge does: check the URL`);
      }
      return { outcome: answer.imported ? "imported" : "already_present", connection_id: answer.connection_id };
    }
    if (res.status === 401) throw new Fatal("the Worker refused the API key (401): check FINCH_EDGE_API_KEY");
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      await sleep(retryAfterMs(res) ?? Math.min(30_000, 500 * 2 ** attempt), signal);
      continue;
    }
    // Any other 4xx is the Worker's final word on this line (a malformed token is 400 param_invalid).
    return { outcome: "refused", reason: answer?.error?.code ?? `http_${res.status}` };
  }
  return undefined;
}

/**
 * Imports every line of `file` not already in the journal. `onProgress(stats)` after each line.
 * Resolves with the stats; rejects on a fatal answer (bad API key, a redirect, not the Worker),
 * a refused --url or a journal this version must not trust. Stops early on `signal`.
 */
export async function runImport(opts) {
  const origin = workerOrigin(opts.url);
  const journalPath = opts.journal ?? journalPathFor(opts.file);
  const done = readJournal(journalPath);
  const macOf = lineMac(opts.apiKey, origin);
  const stats = { total: await countLines(opts.file), done: 0, imported: 0, already_present: 0, refused: 0 };
  Object.assign(stats, { unfinished: 0, skipped: 0, duplicate: 0 });
  const signal = opts.signal ?? new AbortController().signal;
  const run = { ...opts, origin, pace: pacer(opts.perMinute ?? 120), fetch: opts.fetch ?? fetch };
  const append = openJournal(journalPath);
  const settle = (outcome) => {
    stats.done++;
    stats[outcome]++;
    opts.onProgress?.(stats);
  };

  const lines = fileLines(opts.file);
  const seen = new Set();
  /** The next line to send; finished, refused and repeated lines are settled on the way. */
  const nextLine = async () => {
    for (;;) {
      const { value, done: end } = await lines.next();
      if (end) return undefined;
      const parsed = parseLine(value.text);
      if (parsed.refused) {
        settle("refused"); // Decided here, every run: nothing to journal.
        continue;
      }
      const mac = macOf(parsed.body);
      if (seen.has(mac)) {
        settle("duplicate");
        continue;
      }
      seen.add(mac);
      const entry = done.get(mac);
      if (entry) {
        stats.skipped++;
        settle(entry.outcome in stats ? entry.outcome : "refused");
        continue;
      }
      return { line: value.line, mac, parsed };
    }
  };
  let fatal;
  const worker = async () => {
    for (;;) {
      if (signal.aborted || fatal) return;
      const item = await nextLine();
      if (!item || signal.aborted || fatal) return;
      try {
        const result = await importOne(run, item.parsed.body, signal);
        if (!result) {
          stats.unfinished++;
          continue;
        }
        append({ mac: item.mac, line: item.line, customer_id: item.parsed.customerId, ...result });
        settle(result.outcome);
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

/**
 * The report: totals and every line's outcome in the file as it is now (ids and reasons only,
 * never a token). Lines are matched to the journal by content, like the run does.
 */
export async function writeReport(path, opts) {
  const journalPath = opts.journal ?? journalPathFor(opts.file);
  const done = readJournal(journalPath);
  const macOf = lineMac(opts.apiKey, workerOrigin(opts.url));
  const totals = { lines: 0, imported: 0, already_present: 0, refused: 0, duplicate: 0, not_done: 0 };
  const lines = [];
  const first = new Map();
  for await (const { line, text } of fileLines(opts.file)) {
    totals.lines++;
    const parsed = parseLine(text);
    let entry;
    if (parsed.refused) {
      entry = { line, outcome: "refused", reason: parsed.refused };
    } else {
      const mac = macOf(parsed.body);
      const earlier = first.get(mac);
      if (earlier !== undefined) {
        entry = done.has(mac) ? { line, outcome: "duplicate", duplicate_of: earlier } : undefined;
      } else {
        first.set(mac, line);
        const found = done.get(mac);
        if (found) {
          const { mac: _mac, line: _at, ...rest } = found;
          entry = { line, ...rest };
        }
      }
    }
    if (!entry) totals.not_done++;
    else {
      totals[entry.outcome] = (totals[entry.outcome] ?? 0) + 1;
      lines.push(entry);
    }
  }
  const report = {
    file: opts.file,
    written_at: new Date().toISOString(),
    complete: totals.not_done === 0,
    totals,
    lines,
  };
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
