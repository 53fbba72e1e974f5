// `npm run import` end to end, against the same stack `npm start` runs (the Worker under
// `wrangler dev` plus the mock Finch): a file of 1,000 tokens the mock issued, with bad lines
// mixed in; the import is killed part-way (SIGKILL, no chance to clean up) and run again; every
// token ends up stored exactly once, every bad line is refused with its reason, and neither the
// journal nor the report holds a token. Then the file is reordered, a line dropped and one added:
// only the new one is sent. (The CLI's own rules, against a tiny local server:
// test/node/import-cli.test.mjs.)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, killGroupNow, startDevServers } from "../scripts/lib/dev-server.mjs";
import { prepareDevVars, REPO_ROOT } from "../scripts/lib/dev-vars.mjs";

const TOKENS = 1000;
// Local KV persists between runs of `wrangler dev` (.wrangler/state): customers of this run only.
const RUN = Date.now().toString(36);
const customer = (i) => `imp-${RUN}-${i % 50}`;
let servers;
let vars;
let dir;
const spawned = [];
process.on("exit", () => spawned.forEach(killGroupNow));

before(async () => {
  vars = prepareDevVars().vars;
  const port = await freePort(8787);
  let mockPort = await freePort(8788);
  if (mockPort === port) mockPort = await freePort(0);
  const quiet = { write: () => true };
  servers = await startDevServers({ port, mockPort, out: quiet, err: quiet, onSpawn: (c) => spawned.push(c) });
  dir = mkdtempSync(join(tmpdir(), "fce-import-"));
});

after(async () => {
  await servers?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function mint(customer) {
  const res = await fetch(`${servers.mockBase}/_mock/connections`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ customer_id: customer, customer_name: `Customer ${customer}` }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

/** Runs the CLI; `killAfter` lines of progress journal -> SIGKILL. Resolves with its exit. */
function runImport(file, { killAfterJournalLines } = {}) {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, "scripts", "import.mjs"),
      "--url",
      servers.base,
      "--file",
      file,
      "--per-minute",
      "100000",
      "--concurrency",
      "8",
    ],
    { env: { ...process.env, FINCH_EDGE_API_KEY: vars.API_KEYS.split(",")[0] }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  let timer;
  if (killAfterJournalLines) {
    timer = setInterval(() => {
      let n = 0;
      try {
        n = readFileSync(`${file}.import-journal.jsonl`, "utf8").split("\n").filter(Boolean).length;
      } catch {}
      if (n >= killAfterJournalLines) child.kill("SIGKILL");
    }, 20);
  }
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, out });
    }),
  );
}

describe("npm run import", { timeout: 300_000 }, () => {
  test("1,000 tokens, killed mid-way and resumed: each stored exactly once, bad lines refused", async () => {
    const lines = [];
    const tokens = [];
    for (let i = 0; i < TOKENS; i++) {
      const { access_token } = await mint(customer(i));
      tokens.push(access_token);
      lines.push(JSON.stringify({ access_token, customer_id: customer(i), customer_name: `Customer ${customer(i)}` }));
    }
    const globex = await mint("globex");
    lines.splice(10, 0, "{ not json");
    lines.splice(20, 0, JSON.stringify({ access_token: "not-a-real-token", customer_id: "x", customer_name: "X" }));
    lines.splice(30, 0, JSON.stringify({ access_token: globex.access_token, customer_id: "acme", customer_name: "A" }));
    lines.splice(40, 0, lines[0]); // the same line twice in one file
    // A token with a CR LF (an export gone wrong): the Worker refuses it (400 param_invalid), for good.
    lines.splice(50, 0, JSON.stringify({ access_token: "tok\r\nen", customer_id: "x", customer_name: "X" }));
    const file = join(dir, "tokens.jsonl");
    writeFileSync(file, `${lines.join("\n")}\n`);

    const first = await runImport(file, { killAfterJournalLines: 300 });
    assert.equal(first.signal, "SIGKILL", `the first run should have been killed:\n${first.out}`);
    const second = await runImport(file);
    assert.equal(second.code, 0, second.out);

    const report = JSON.parse(readFileSync(`${file}.import-report.json`, "utf8"));
    assert.equal(report.complete, true);
    assert.equal(report.totals.lines, TOKENS + 5);
    assert.equal(
      report.totals.refused,
      4,
      JSON.stringify(report.lines.filter((l) => l.outcome === "refused").slice(0, 8)),
    );
    assert.equal(report.totals.duplicate, 1, "the repeated line is reported as a duplicate of the first");
    assert.equal(report.totals.imported + report.totals.already_present, TOKENS);
    // At most the lines in flight at the kill (concurrency 8) come back "already present": each
    // was stored once, by the run that got there first.
    assert.ok(report.totals.already_present <= 8, JSON.stringify(report.totals));
    const reasons = report.lines
      .filter((l) => l.outcome === "refused")
      .map((l) => l.reason)
      .sort();
    assert.deepEqual(reasons, ["customer_mismatch", "invalid_json", "param_invalid", "token_rejected"]);
    const seen = new Set(report.lines.map((l) => l.line));
    assert.equal(seen.size, report.lines.length, "each line has one final outcome");

    // The file is reordered, a line dropped and a new token added at the top: the journal keeps
    // lines by content, so the new one is imported and nothing finished is sent again.
    const late = await mint(customer(TOKENS));
    tokens.push(late.access_token);
    const lateLine = JSON.stringify({
      access_token: late.access_token,
      customer_id: customer(TOKENS),
      customer_name: `Customer ${customer(TOKENS)}`,
    });
    writeFileSync(file, `${[lateLine, ...lines.slice(1).reverse()].join("\n")}\n`);
    const third = await runImport(file);
    assert.equal(third.code, 0, third.out);
    const after = JSON.parse(readFileSync(`${file}.import-report.json`, "utf8"));
    assert.equal(after.complete, true);
    assert.deepEqual(after.lines[0], {
      line: 1,
      customer_id: customer(TOKENS),
      outcome: "imported",
      connection_id: late.connection_id,
    });
    // The dropped line's twin (the repeated one) now stands first and keeps its outcome.
    assert.deepEqual(
      { ...after.totals, imported: after.totals.imported - 1 },
      { ...report.totals, duplicate: 0 },
      JSON.stringify({ report: report.totals, after: after.totals }),
    );

    // The Worker holds each connection exactly once, under its customer.
    const auth = { authorization: `Bearer ${vars.API_KEYS.split(",")[0]}` };
    const ids = new Set();
    for (let c = 0; c < 50; c++) {
      let cursor;
      do {
        const url = new URL("/api/connections", servers.base);
        url.searchParams.set("customer_id", customer(c));
        url.searchParams.set("limit", "100");
        if (cursor) url.searchParams.set("cursor", cursor);
        const page = await (await fetch(url, { headers: auth })).json();
        for (const conn of page.connections) {
          assert.ok(!ids.has(conn.connection_id), "a connection listed twice");
          ids.add(conn.connection_id);
        }
        cursor = page.cursor;
      } while (cursor);
    }
    assert.equal(ids.size, TOKENS + 1);

    // No token in what the CLI wrote or printed.
    const written = [
      readFileSync(`${file}.import-journal.jsonl`, "utf8"),
      readFileSync(`${file}.import-report.json`, "utf8"),
      first.out,
      second.out,
      third.out,
    ].join("\n");
    for (const token of [...tokens, globex.access_token]) assert.ok(!written.includes(token), "a token was written");
  });
});
