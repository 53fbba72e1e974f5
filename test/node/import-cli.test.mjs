import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runImport, writeReport } from "../../scripts/lib/import.mjs";

/**
 * `npm run import` (scripts/lib/import.mjs) against a small HTTP server on 127.0.0.1 that
 * plays the Worker: what the CLI sends, what it journals, and what it refuses to do (issue 17).
 * The whole stack (wrangler dev + mock Finch) is e2e/import.test.mjs.
 */
const API_KEY = "test_import_key_0123456789abcdefghij";
const CLI = new URL("../../scripts/import.mjs", import.meta.url).pathname;
let dir;
const servers = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fce-import-cli-"));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** A server on 127.0.0.1; `answer(body, req)` -> { status, headers?, json? }. Records every request. */
async function worker(answer = created) {
  const requests = [];
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (d) => {
      text += d;
    });
    req.on("end", () => {
      const body = text ? JSON.parse(text) : undefined;
      requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      const { status, headers = {}, json } = answer(body, req);
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(json === undefined ? "" : JSON.stringify(json));
    });
  });
  servers.push(server);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return { url: `http://127.0.0.1:${port}`, port, requests, tokens: () => requests.map((r) => r.body?.access_token) };
}

function created(body) {
  const id = createHash("sha256").update(body.access_token).digest("hex").slice(0, 12);
  return { status: 201, json: { connection_id: `conn-${id}`, imported: true, connection: {} } };
}

const line = (token, customer = "acme") =>
  JSON.stringify({ access_token: token, customer_id: customer, customer_name: `Customer ${customer}` });

function file(lines) {
  const path = join(dir, "tokens.jsonl");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

const run = (url, path, extra = {}) =>
  runImport({ url, apiKey: API_KEY, file: path, concurrency: 1, perMinute: 100_000, ...extra });

const journalOf = (path) => readFileSync(`${path}.import-journal.jsonl`, "utf8");

describe("the journal is keyed by each line's content, not its number", () => {
  it("a line inserted above finished ones is imported, not skipped as done", async () => {
    const w = await worker();
    const path = file([line("tok_A"), line("tok_B")]);
    await run(w.url, path);
    expect(w.tokens()).toEqual(["tok_A", "tok_B"]);
    file([line("tok_C"), line("tok_B"), line("tok_A")]);
    const stats = await run(w.url, path);
    expect(w.tokens()).toEqual(["tok_A", "tok_B", "tok_C"]);
    expect(stats).toMatchObject({ total: 3, done: 3, imported: 3 });
  });

  it("a dropped line does not make the next one look finished", async () => {
    // tok_B never gets a final answer (503 until attempts run out); tok_A and tok_C do.
    const w = await worker((body) =>
      body.access_token === "tok_B" ? { status: 503, headers: { "retry-after-ms": "0" } } : created(body),
    );
    const path = file([line("tok_A"), line("tok_B"), line("tok_C")]);
    expect(await run(w.url, path)).toMatchObject({ imported: 2, unfinished: 1 });
    file([line("tok_B"), line("tok_C")]);
    const before = w.requests.length;
    await run(w.url, path);
    expect(
      w
        .tokens()
        .slice(before)
        .every((t) => t === "tok_B"),
    ).toBe(true);
    expect(w.requests.length).toBeGreaterThan(before);
  });

  it("an edited line is sent again; an unchanged one is not", async () => {
    const w = await worker();
    const path = file([line("tok_A"), line("tok_B")]);
    await run(w.url, path);
    file([line("tok_A"), line("tok_B", "globex")]);
    await run(w.url, path);
    expect(w.requests.map((r) => `${r.body.access_token}/${r.body.customer_id}`)).toEqual([
      "tok_A/acme",
      "tok_B/acme",
      "tok_B/globex",
    ]);
  });

  it("holds no token, and its entries match only with the same API key and Worker", async () => {
    const w = await worker();
    const path = file([line("tok_secret_A"), line("tok_secret_B")]);
    await run(w.url, path);
    const journal = journalOf(path);
    expect(journal).not.toContain("tok_secret");
    // Another key (or another Worker) cannot use these entries: every line is sent again.
    await run(w.url, path, { apiKey: `${API_KEY}_other` });
    expect(w.requests).toHaveLength(4);
    await run(w.url, path);
    expect(w.requests).toHaveLength(4);
    // The same server under another name is another Worker as far as the journal knows.
    const viaLocalhost = (endpoint, init) => fetch(String(endpoint).replace("localhost", "127.0.0.1"), init);
    await run(`http://localhost:${w.port}`, path, { fetch: viaLocalhost });
    expect(w.requests).toHaveLength(6);
  });

  it("refuses a journal written by the line-number version, and leaves it as it was", async () => {
    const w = await worker();
    const path = file([line("tok_A"), line("tok_B")]);
    const old = `${JSON.stringify({ line: 1, customer_id: "acme", outcome: "imported", connection_id: "c1" })}\n`;
    writeFileSync(`${path}.import-journal.jsonl`, old);
    await expect(run(w.url, path)).rejects.toThrow(/older .*line number/);
    expect(w.requests).toHaveLength(0);
    expect(journalOf(path)).toBe(old);
  });

  it("the same line twice in a file is sent once; the report names the first", async () => {
    const w = await worker();
    const path = file([line("tok_A"), line("tok_B"), line("tok_A")]);
    await run(w.url, path);
    expect(w.tokens()).toEqual(["tok_A", "tok_B"]);
    const report = await writeReport(join(dir, "report.json"), { url: w.url, apiKey: API_KEY, file: path });
    expect(report.totals).toMatchObject({ lines: 3, imported: 2, duplicate: 1, not_done: 0 });
    expect(report.lines[2]).toMatchObject({ line: 3, outcome: "duplicate", duplicate_of: 1 });
    expect(report.complete).toBe(true);
  });
});

describe("where the tokens go", () => {
  it.each([
    "http://example.com",
    "http://10.0.0.5:8787",
    "http://127.0.0.1.example.com",
    "ftp://127.0.0.1",
    "https://user:pw@connect.example.com",
  ])("refuses %s before any request", async (url) => {
    const sent = [];
    const path = file([line("tok_A")]);
    await expect(run(url, path, { fetch: async (...a) => sent.push(a) })).rejects.toThrow(/--url/);
    expect(sent).toEqual([]);
  });

  it.each(["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787", "https://connect.example.com"])(
    "accepts %s",
    async (url) => {
      const sent = [];
      const fetch = async (endpoint, init) => {
        sent.push(String(endpoint));
        expect(init.redirect).toBe("manual");
        return Response.json({ connection_id: "c1", imported: true, connection: {} }, { status: 201 });
      };
      await run(url, file([line("tok_A")]), { fetch });
      expect(sent).toEqual([`${new URL(url).origin}/api/connections/import`]);
    },
  );

  it("never follows a redirect: a 308 to another host is an error naming only that host, nothing journaled", async () => {
    const elsewhere = await worker();
    const w = await worker(() => ({
      status: 308,
      headers: { location: `http://localhost:${elsewhere.port}/api/connections/import?key=q_secret_value` },
    }));
    const path = file([line("tok_A"), line("tok_B")]);
    const error = await run(w.url, path).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain(`localhost:${elsewhere.port}`);
    expect(error.message).not.toContain("q_secret_value");
    expect(error.message).not.toContain("/api/connections/import");
    expect(elsewhere.requests).toEqual([]);
    expect(w.requests).toHaveLength(1);
    expect(journalOf(path)).not.toContain("imported");
  });

  it("a 2xx that is not the Worker's answer is an error, not an import", async () => {
    const w = await worker(() => ({ status: 200, json: { welcome: "to the captive portal" } }));
    const path = file([line("tok_A")]);
    await expect(run(w.url, path)).rejects.toThrow(/not .*finch-connect-edge/);
    expect(journalOf(path)).not.toContain("imported");
  });
});

describe("which answers are final", () => {
  it("a 400 param_invalid (a token with a CR or LF) is refused and never sent again", async () => {
    const w = await worker((body) =>
      /[\r\n]/.test(body.access_token)
        ? { status: 400, json: { error: { code: "param_invalid", message: "x", request_id: "r" } } }
        : created(body),
    );
    const path = file([line("tok\r\nA"), line("tok_B")]);
    expect(await run(w.url, path)).toMatchObject({ refused: 1, imported: 1, unfinished: 0 });
    expect(w.requests).toHaveLength(2);
    const again = await run(w.url, path);
    expect(again).toMatchObject({ done: 2, refused: 1, imported: 1 });
    expect(w.requests).toHaveLength(2);
    const report = await writeReport(join(dir, "report.json"), { url: w.url, apiKey: API_KEY, file: path });
    expect(report.lines[0]).toMatchObject({ line: 1, outcome: "refused", reason: "param_invalid" });
  });

  it.each([403, 404, 409, 413, 422])("%i is final", async (status) => {
    const w = await worker(() => ({ status, json: { error: { code: `code_${status}` } } }));
    const path = file([line("tok_A")]);
    expect(await run(w.url, path)).toMatchObject({ refused: 1 });
    await run(w.url, path);
    expect(w.requests).toHaveLength(1);
  });

  it.each([408, 429, 500, 503])("%i is retried", async (status) => {
    let n = 0;
    const w = await worker((body) => (n++ === 0 ? { status, headers: { "retry-after-ms": "0" } } : created(body)));
    const path = file([line("tok_A")]);
    expect(await run(w.url, path)).toMatchObject({ imported: 1 });
    expect(w.requests).toHaveLength(2);
  });

  it("401 stops the run and journals nothing", async () => {
    const w = await worker(() => ({ status: 401, json: { error: { code: "unauthorized" } } }));
    const path = file([line("tok_A"), line("tok_B")]);
    await expect(run(w.url, path)).rejects.toThrow(/401/);
    expect(w.requests).toHaveLength(1);
    expect(existsSync(`${path}.import-journal.jsonl`) ? journalOf(path) : "").not.toContain("refused");
  });
});

describe("the command", () => {
  const cli = (args, env = {}) =>
    spawnSync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, FINCH_EDGE_API_KEY: API_KEY, ...env },
      encoding: "utf8",
      timeout: 20_000,
    });

  it("refuses plain http to another host with exit 2, naming the rule", () => {
    const path = file([line("tok_A")]);
    const out = cli(["--url", "http://connect.example.com", "--file", path]);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/https/);
    expect(out.stderr).toMatch(/127\.0\.0\.1/);
    expect(existsSync(`${path}.import-journal.jsonl`)).toBe(false);
  });

  it("--help explains the journal and the rules", () => {
    const out = cli(["--help"]);
    expect(out.status).toBe(0);
    for (const words of ["content", "https", "redirect", "0x21"]) expect(out.stdout).toContain(words);
  });
});
