// `npm run sandbox` without wrangler: its argument and URL rules, and the whole CLI against a
// small local stand-in for the Worker's POST /api/sandbox/connections (success, the Worker's
// error answers, a redirect that must not be followed). Fast: no Workers are started.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../scripts/lib/dev-vars.mjs";
import {
  parseSandboxArgs,
  requestSandboxConnection,
  SandboxError,
  UsageError,
  workerOrigin,
} from "../scripts/lib/sandbox.mjs";

const KEY = { FINCH_EDGE_API_KEY: "fce_test_key_0123456789abcdef" };
const REQUIRED = ["--customer-id", "acme", "--customer-name", "Acme Inc", "--provider", "gusto"];
const CONNECTION_ID = "3f2b1c0d-aaaa-4bbb-8ccc-123456789abc";

describe("parseSandboxArgs", () => {
  test("the required flags make the body; the default URL is npm start's Worker", () => {
    assert.deepEqual(parseSandboxArgs(REQUIRED, KEY), {
      origin: "http://127.0.0.1:8787",
      apiKey: KEY.FINCH_EDGE_API_KEY,
      body: { customer_id: "acme", customer_name: "Acme Inc", provider_id: "gusto" },
    });
  });

  test("--products and --employee-size", () => {
    const { body } = parseSandboxArgs([...REQUIRED, "--products", "company, directory,", "--employee-size", "5"], KEY);
    assert.deepEqual(body.products, ["company", "directory"]);
    assert.equal(body.employee_size, 5);
  });

  test("--help needs nothing else", () => {
    assert.deepEqual(parseSandboxArgs(["--help"], {}), { help: true });
  });

  for (const [what, argv, env, flag] of [
    ["no --customer-id", REQUIRED.slice(2), KEY, "--customer-id"],
    [
      "a blank --customer-name",
      ["--customer-id", "a", "--customer-name", " ", "--provider", "gusto"],
      KEY,
      "--customer-name",
    ],
    ["no --provider", REQUIRED.slice(0, 4), KEY, "--provider"],
    ["an unknown flag", [...REQUIRED, "--token", "x"], KEY, "--token"],
    ["a positional argument", [...REQUIRED, "extra"], KEY, "extra"],
    ["an empty product list", [...REQUIRED, "--products", ","], KEY, "--products"],
    ["a product with a capital", [...REQUIRED, "--products", "Company"], KEY, "--products"],
    ["--employee-size 0", [...REQUIRED, "--employee-size", "0"], KEY, "--employee-size"],
    ["--employee-size 2.5", [...REQUIRED, "--employee-size", "2.5"], KEY, "--employee-size"],
    ["no API key", REQUIRED, {}, "FINCH_EDGE_API_KEY"],
  ]) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => parseSandboxArgs(argv, env),
        (e) => e instanceof UsageError && e.message.includes(flag),
      );
    });
  }
});

describe("workerOrigin", () => {
  for (const url of [
    "http://127.0.0.1:8787",
    "http://localhost:8787/",
    "http://[::1]:8787",
    "https://connect.example.com",
  ]) {
    test(`accepts ${url}`, () => assert.equal(workerOrigin(url), new URL(url).origin));
  }
  for (const url of [
    "http://connect.example.com",
    "http://10.0.0.5:8787",
    "http://127.0.0.1.example.com",
    "ftp://127.0.0.1",
    "https://user:pw@connect.example.com",
    "https://connect.example.com/api",
    "https://connect.example.com/?x=1",
    "127.0.0.1:8787",
  ]) {
    test(`refuses ${url}`, () => assert.throws(() => workerOrigin(url), UsageError));
  }
});

/** A stand-in Worker: answers by customer_id, records what it received. */
let server;
let origin;
const received = [];
before(async () => {
  server = createServer((req, res) => {
    let text = "";
    req.on("data", (c) => {
      text += c;
    });
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(text || "null") });
      const customer = JSON.parse(text || "{}").customer_id;
      const send = (status, body, headers = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(body === undefined ? "" : JSON.stringify(body));
      };
      if (customer === "redirect") return send(302, undefined, { location: "https://elsewhere.example.net/steal" });
      if (customer === "off")
        return send(404, { error: { code: "not_found", message: "Not found.", request_id: "r-1" } });
      if (customer === "html") {
        res.writeHead(500, { "content-type": "text/html" });
        return res.end("<h1>oops</h1>");
      }
      if (customer === "no-id") return send(201, { connection_id: "../etc" });
      send(201, { connection_id: CONNECTION_ID, customer_id: customer, provider_id: "gusto", status: "connected" });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

const request = (customer) => ({
  origin,
  apiKey: KEY.FINCH_EDGE_API_KEY,
  body: { customer_id: customer, customer_name: "C", provider_id: "gusto" },
});

describe("requestSandboxConnection", () => {
  test("POSTs the body with the API key as a Bearer token", async () => {
    received.length = 0;
    const answer = await requestSandboxConnection(request("acme"));
    assert.equal(answer.connection_id, CONNECTION_ID);
    const [sent] = received;
    assert.equal(sent.method, "POST");
    assert.equal(sent.url, "/api/sandbox/connections");
    assert.equal(sent.headers.authorization, `Bearer ${KEY.FINCH_EDGE_API_KEY}`);
    assert.deepEqual(sent.body, request("acme").body);
  });

  for (const [customer, code, text] of [
    ["off", "not_found", "Not found. (HTTP 404)"],
    ["html", "http_500", "the Worker answered 500"],
    ["redirect", "redirected", "elsewhere.example.net"],
    ["no-id", "bad_answer", "without a connection id"],
  ]) {
    test(`${customer}: SandboxError ${code}`, async () => {
      await assert.rejects(
        requestSandboxConnection(request(customer)),
        (e) => e instanceof SandboxError && e.code === code && e.message.includes(text),
      );
    });
  }

  test("a redirect is not followed", async () => {
    const hosts = [];
    const spy = (url, init) => {
      hosts.push(new URL(url).host);
      return fetch(url, init);
    };
    await assert.rejects(requestSandboxConnection(request("redirect"), spy), SandboxError);
    assert.deepEqual(hosts, [new URL(origin).host]);
  });

  test("an unreachable Worker is SandboxError unreachable", async () => {
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = closed.address().port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      requestSandboxConnection({ ...request("acme"), origin: `http://127.0.0.1:${port}` }),
      (e) => e instanceof SandboxError && e.code === "unreachable",
    );
  });
});

function runCli(args, env = KEY) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "scripts", "sandbox.mjs"), ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("npm run sandbox (the process)", () => {
  test("prints only the connection id on stdout, notes on stderr, exit 0", async () => {
    const r = await runCli([...REQUIRED, "--url", origin]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${CONNECTION_ID}\n`);
    assert.match(r.stderr, /created connection/);
  });

  test("the Worker's refusal: its code and message on stderr, nothing on stdout, exit 1", async () => {
    const r = await runCli(["--customer-id", "off", "--customer-name", "C", "--provider", "gusto", "--url", origin]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^sandbox: not_found: Not found\. \(HTTP 404\)\n$/);
  });

  test("bad arguments: exit 2, the API key never echoed", async () => {
    const r = await runCli([...REQUIRED, "--url", "http://connect.example.com"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--url must be https/);
    assert.doesNotMatch(r.stderr, new RegExp(KEY.FINCH_EDGE_API_KEY));
  });

  test("--help documents the command", async () => {
    const r = await runCli(["--help"], {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /POST \/api\/sandbox\/connections/);
    assert.match(r.stdout, /--employee-size/);
  });
});
