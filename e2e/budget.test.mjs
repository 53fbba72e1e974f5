// The rate budget end to end, against the stack `npm start` runs (the Worker under `wrangler dev`,
// its RateBudget objects in local workerd, and the mock Finch, which enforces Finch's own
// per-product limits and answers 429 finch_application_rl over them): 40 concurrent directory
// reads over several connections send at most Finch's limit of 20 to the mock, and every other
// call gets our 429 with a Retry-After, never Finch's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { freePort, killGroupNow, startDevServers } from "../scripts/lib/dev-server.mjs";
import { prepareDevVars } from "../scripts/lib/dev-vars.mjs";

const RUN = Date.now().toString(36);
const CONNECTIONS = 4;
const CALLS = 40;
const LIMIT = 20; // Finch's limit for `directory`, the Worker's default and the mock's
let servers;
let auth;
const spawned = [];
process.on("exit", () => spawned.forEach(killGroupNow));

before(async () => {
  const vars = prepareDevVars().vars;
  auth = { authorization: `Bearer ${vars.API_KEYS.split(",")[0]}` };
  const port = await freePort(8787);
  let mockPort = await freePort(8788);
  if (mockPort === port) mockPort = await freePort(0);
  const quiet = { write: () => true };
  servers = await startDevServers({
    port,
    mockPort,
    out: quiet,
    err: quiet,
    onSpawn: (c) => spawned.push(c),
    // A Finch application of its own for this run: the budget's objects keep their window in
    // local storage (.wrangler/state), and an earlier run's slots must not count here.
    extraWorkerVars: { FINCH_CLIENT_ID: `e2e-budget-${RUN}` },
  });
});

after(async () => {
  await servers?.stop();
});

/** A connection the mock issued, imported into the Worker. */
async function connection(i) {
  const customer = `budget-${RUN}-${i}`;
  const minted = await fetch(`${servers.mockBase}/_mock/connections`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ customer_id: customer, customer_name: `Customer ${customer}` }),
  });
  assert.equal(minted.status, 200);
  const { access_token } = await minted.json();
  const imported = await fetch(`${servers.base}/api/connections/import`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ access_token, customer_id: customer, customer_name: `Customer ${customer}` }),
  });
  assert.equal(imported.status, 201, await imported.clone().text());
  return (await imported.json()).connection_id;
}

test(`${CALLS} concurrent directory reads over ${CONNECTIONS} connections: at most ${LIMIT} reach Finch`, async () => {
  const ids = [];
  for (let i = 0; i < CONNECTIONS; i++) ids.push(await connection(i));
  const answers = await Promise.all(
    Array.from({ length: CALLS }, async (_, i) => {
      const res = await fetch(`${servers.base}/api/connections/${ids[i % CONNECTIONS]}/finch/employer/directory`, {
        headers: auth,
      });
      const body = await res.json();
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body };
    }),
  );
  const ok = answers.filter((a) => a.status === 200);
  const finch429 = answers.filter((a) => a.status === 429 && a.body.finch_code !== undefined);
  const ours = answers.filter((a) => a.status === 429 && a.body.error?.code === "finch_budget_exhausted");
  // What the mock received: every 200 it served and every 429 it answered itself.
  assert.equal(finch429.length, 0, "the mock Finch answered 429: more than its limit reached it");
  assert.equal(ok.length, LIMIT, `calls Finch served: ${ok.length}`);
  assert.equal(ours.length, CALLS - LIMIT, JSON.stringify(answers.map((a) => a.status)));
  for (const a of ours) {
    const seconds = Number(a.retryAfter);
    // One window after the end of the first slot's hold: 60 s + 5 s margin + 1 s hold at most.
    assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 66, `Retry-After ${a.retryAfter}`);
  }
});
