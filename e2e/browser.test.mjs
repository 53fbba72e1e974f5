// End to end in a real browser: Debian's Chromium, driven by playwright-core, against the same
// stack `npm start` runs (the Worker under `wrangler dev` plus the mock Finch). Run with
// `npm run test:e2e`; screenshots and the servers' output land in test-output/e2e/.
import assert from "node:assert/strict";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { freePort, killGroupNow, startDevServers } from "../scripts/lib/dev-server.mjs";
import { prepareDevVars, REPO_ROOT } from "../scripts/lib/dev-vars.mjs";
import { connectUrl, mintTicket } from "../scripts/lib/ticket.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = join(REPO_ROOT, "test-output", "e2e");
const SERVER_LOG = join(OUT, "servers.log");
// Flags for a quiet, offline, disposable browser: no sandbox (CI runs as root), no GPU, and
// none of Chromium's own background traffic (updates, sync, field trials).
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let servers;
let browser;
let vars;
const spawned = [];
/** Everything both servers printed, kept in memory for assertions and written to servers.log. */
const serverLines = [];
// Last resort when the runner kills this file mid-test: no workerd may keep a port.
process.on("exit", () => spawned.forEach(killGroupNow));

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium`);
  mkdirSync(OUT, { recursive: true });
  const file = createWriteStream(SERVER_LOG);
  const sink = {
    write(text) {
      serverLines.push(...text.split("\n").filter(Boolean));
      return file.write(text);
    },
  };
  vars = prepareDevVars().vars;
  // npm start's ports when free, so a developer's own `npm start` is never disturbed.
  const port = await freePort(8787);
  let mockPort = await freePort(8788);
  if (mockPort === port) mockPort = await freePort(0);
  servers = await startDevServers({ port, mockPort, out: sink, err: sink, onSpawn: (c) => spawned.push(c) });
  // playwright-core's launch() gives every run a fresh temporary profile and deletes it afterwards.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await servers?.stop();
});

/** A page that records what the browser itself complained about (CSP violations, script errors). */
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 800, height: 640 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => problems.push(e.message));
  return { context, page, problems };
}

function ticketLink(claims) {
  return connectUrl(servers.base, mintTicket(vars.TICKET_SECRET, claims));
}

/** Clicks a link that ends on the Worker's /callback; returns that navigation's response. */
async function clickThroughToCallback(page, selector) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === "/callback" && r.request().isNavigationRequest()),
    page.click(selector),
  ]);
  await page.waitForLoadState("load");
  return response;
}

describe("Connect in a real browser", { timeout: 120_000 }, () => {
  test("approve: the mock Connect page, then the Worker's success page", async () => {
    const { context, page, problems } = await openPage();
    try {
      const ticket = mintTicket(vars.TICKET_SECRET, { sub: "acme", name: "Acme Inc" });
      await page.goto(connectUrl(servers.base, ticket));
      assert.equal(new URL(page.url()).origin, servers.mockBase, "the Worker sent the browser to Finch Connect");
      assert.equal(await page.textContent("h1"), "Connect your payroll provider");
      assert.equal(await page.textContent("#customer-name"), "Acme Inc");
      assert.equal(await page.textContent("#customer-id"), "acme");
      await page.screenshot({ path: join(OUT, "1-mock-connect.png") });

      const response = await clickThroughToCallback(page, "#approve");
      assert.equal(response.status(), 200);
      assert.equal(await page.textContent("h1"), "Connected");
      assert.equal(await page.textContent("#provider"), "gusto");
      assert.match((await page.getAttribute("#result", "data-connection-id")) ?? "", /^[0-9a-f-]{36}$/);
      await page.screenshot({ path: join(OUT, "2-success.png") });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: join(OUT, "2-success-dark.png") });

      const code = new URL(page.url()).searchParams.get("code");
      assert.ok(code, "Finch's redirect carried an authorization code");
      assert.deepEqual(problems, [], "the pages load without browser errors (CSP, scripts)");
      await assertWorkerLogClean([ticket, code]);
    } finally {
      await context.close();
    }
  });

  test("deny: the Worker's error page with code connect_cancelled", async () => {
    const { context, page, problems } = await openPage();
    try {
      await page.goto(ticketLink({ sub: "globex", name: "Globex Corporation" }));
      assert.equal(await page.textContent("#customer-name"), "Globex Corporation");

      const response = await clickThroughToCallback(page, "#deny");
      assert.equal(response.status(), 400);
      assert.equal(await page.textContent("h1"), "Connection not completed");
      assert.equal(await page.textContent("#error-code"), "connect_cancelled");
      assert.match((await page.textContent("#reference")) ?? "", /^[0-9a-f-]{36}$/);
      await page.screenshot({ path: join(OUT, "3-denied.png") });
      // The page itself answers 400, which Chromium reports as a failed load; nothing else may fail.
      const expected = (p) => p.includes("status of 400") && p.includes(`(${response.url()})`);
      assert.deepEqual(
        problems.filter((p) => !expected(p)),
        [],
      );
    } finally {
      await context.close();
    }
  });
});

/**
 * The Worker's request log lines (JSON, as wrangler dev prints them), parsed. With two configs
 * in one `wrangler dev`, wrangler puts the Worker's name before each of its lines.
 */
function workerRequestLines() {
  return serverLines.flatMap((line) => {
    const m = /^\[worker\] (?:\[finch-connect-edge\] )?(\{.*)$/.exec(line);
    const json = m ? m[1] : null;
    try {
      const parsed = json && JSON.parse(json);
      return parsed?.msg === "request" ? [{ line, parsed }] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The Worker logged the callback (its stdout reaches us through a pipe, so the line may
 * trail the page by a moment) and no server line holds a .dev.vars secret or one of
 * `values` (the ticket, the code).
 */
async function assertWorkerLogClean(values) {
  const deadline = Date.now() + 10_000;
  while (!workerRequestLines().some((l) => l.parsed.route === "/callback") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const lines = workerRequestLines();
  const callback = lines.find((l) => l.parsed.route === "/callback")?.parsed;
  assert.ok(callback, "the Worker logged the callback");
  assert.equal(callback.status, 200);
  assert.match(callback.connection_id ?? "", /^[0-9a-f-]{36}$/);
  // Every line either server printed (wrangler's own request lines included), not only the JSON ones.
  const secrets = Object.values(vars).flatMap((v) => [v, ...v.split(/[,:]/)]);
  for (const value of [...secrets, ...values].filter((v) => v && v.length >= 8)) {
    assert.ok(!serverLines.some((l) => l.includes(value)), "a server log line holds a secret, ticket or code");
  }
}
