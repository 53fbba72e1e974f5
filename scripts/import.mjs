#!/usr/bin/env node
// Imports the Finch access tokens an app already holds into the Worker, from a JSON-lines file.
// Usage: FINCH_EDGE_API_KEY=... npm run import -- --url https://connect.example.com --file tokens.jsonl
import { parseArgs } from "node:util";
import { journalPathFor, reportPathFor, runImport, workerOrigin, writeReport } from "./lib/import.mjs";

const HELP = `Import existing Finch access tokens into finch-connect-edge.

Usage:
  FINCH_EDGE_API_KEY=<an entry of API_KEYS> npm run import -- --url <worker> --file <tokens.jsonl>

Each line of the file is one JSON object:
  {"access_token": "...", "customer_id": "acme", "customer_name": "Acme Inc", "customer_email": "..."}

Options:
  --url <url>            the Worker's base URL: https, or http only on 127.0.0.1, localhost or
                         [::1] (e.g. http://127.0.0.1:8787 for npm start)
  --file <path>          the JSON-lines file
  --concurrency <n>      requests in flight, default 4
  --per-minute <n>       at most this many imports a minute, default 120 (each one makes one
                         Finch introspect call; Finch also limits calls per IP address)
  --report <path>        default <file>.import-report.json
  --journal <path>       default <file>.import-journal.jsonl
  -h, --help             show this help

The API key is read from FINCH_EDGE_API_KEY only (never a flag: flags show in ps and shell
history). Interrupted runs resume where they stopped: run the same command again. The journal
remembers each finished line by its content (a keyed hash of the request it made, bound to the
API key and the Worker's URL), never by its line number: lines may be edited, reordered,
added or dropped between runs, and an edited line is sent again. The journal and the report
hold line numbers, customer ids, connection ids and outcomes, never a token. A journal from
an older version (kept by line number) is refused: move it aside and run again.

A redirect is never followed (it would carry the API key and the tokens elsewhere): the run
stops and names the host it pointed at. Final answers: success, and any 4xx but 401, 408 and
429 (e.g. 400 param_invalid: an access_token outside printable ASCII 0x21-0x7E; 422
token_rejected: Finch does not accept it); those lines are reported as refused and not sent
again. 408, 429, 5xx and network failures are retried; 401 stops the run.

Exit codes: 0 every line done, 1 some lines unfinished (run again), 2 bad arguments, API key,
URL, redirect or journal, 130 interrupted.`;

function fail(message) {
  process.stderr.write(`import: ${message}\nRun with --help for usage.\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    strict: true,
    options: {
      url: { type: "string" },
      file: { type: "string" },
      concurrency: { type: "string", default: "4" },
      "per-minute": { type: "string", default: "120" },
      report: { type: "string" },
      journal: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (e) {
  fail(e.message);
}
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
if (!values.url) fail("--url is required");
try {
  workerOrigin(values.url);
} catch (e) {
  fail(e.message);
}
if (!values.file) fail("--file is required");
const apiKey = process.env.FINCH_EDGE_API_KEY;
if (!apiKey) fail("set FINCH_EDGE_API_KEY to one of the Worker's API_KEYS");
const concurrency = Number(values.concurrency);
const perMinute = Number(values["per-minute"]);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) fail("--concurrency must be 1 to 32");
if (!Number.isInteger(perMinute) || perMinute < 1 || perMinute > 100_000) fail("--per-minute must be 1 to 100000");

const journal = values.journal ?? journalPathFor(values.file);
const reportPath = values.report ?? reportPathFor(values.file);
const controller = new AbortController();
process.on("SIGINT", () => controller.abort());
process.on("SIGTERM", () => controller.abort());

const tty = process.stderr.isTTY;
let lastPrint = 0;
function progress(stats, final = false) {
  const now = Date.now();
  if (!final && now - lastPrint < (tty ? 100 : 2000)) return;
  lastPrint = now;
  const width = 30;
  const filled = stats.total ? Math.round((stats.done / stats.total) * width) : width;
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const text = `${bar} ${stats.done}/${stats.total}  imported ${stats.imported}  already present ${stats.already_present}  refused ${stats.refused}`;
  process.stderr.write(tty ? `\r${text}${final ? "\n" : ""}` : `${text}\n`);
}

let stats;
try {
  stats = await runImport({
    url: values.url,
    apiKey,
    file: values.file,
    journal,
    concurrency,
    perMinute,
    signal: controller.signal,
    onProgress: (s) => progress(s),
  });
} catch (e) {
  // A fatal answer (API key, redirect, not the Worker) or a journal this version must not trust.
  process.stderr.write(`\nimport: ${e.message}\n`);
  process.exit(2);
}
progress(stats, true);
const report = await writeReport(reportPath, { url: values.url, apiKey, file: values.file, journal });
process.stdout.write(
  `import: ${report.totals.imported} imported, ${report.totals.already_present} already present, ${report.totals.refused} refused, ${report.totals.duplicate} repeated lines, ${report.totals.not_done} not done; report: ${reportPath}\n`,
);
if (stats.interrupted) {
  process.stderr.write("import: interrupted; run the same command again to resume.\n");
  process.exit(130);
}
process.exit(report.complete ? 0 : 1);
