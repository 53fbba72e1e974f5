// The bench's scenarios: each builds requests exactly as a browser, Finch or the app's back end
// would send them. Both subjects get the very same requests; the bare Worker ignores what it
// does not check (cookies, API keys, tickets).
import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import { mintTicket } from "../../scripts/lib/ticket.mjs";
import { send } from "./load.mjs";

const b64u = (buf) => Buffer.from(buf).toString("base64url");

export const CUSTOMERS = {
  callback: "bench-callback",
  listing: "bench-listing",
  proxy: "bench-proxy",
  webhook: "bench-webhook",
};
export const LISTING_SIZE = 5;
/**
 * Webhook events go round-robin over this many connections, each a new event id (each one
 * prompts the connection's writer to introspect): thousands of events per second for a single
 * connection would measure a case that never happens. Timestamps stay within the +/-300 s
 * window for 50 x 290 events.
 */
const WEBHOOK_CONNECTIONS = 50;

/**
 * Everything the scenarios need to know: the generated secrets and, per target worker, the
 * connection seeded for the proxy and webhook scenarios.
 */
export function makeContext(secrets) {
  // Same derivation as src/crypto/cookie-key.ts cookieKey(): HKDF-SHA256, empty salt, own label.
  const cookieKey = Buffer.from(
    hkdfSync("sha256", Buffer.from(secrets.TICKET_SECRET), Buffer.alloc(0), "finch-connect-edge/flow-cookie/v1", 32),
  );
  const webhookKey = Buffer.from(secrets.WEBHOOK_SECRETS.split(",")[0], "base64");
  const apiKey = secrets.API_KEYS.split(",")[0];
  return { secrets, cookieKey, webhookKey, apiKey };
}

/** A fresh authorization code; the stand-in echoes the customer encoded in it as customer_id. */
const freshCode = (customer) => `${randomBytes(18).toString("base64url")}.${b64u(customer)}`;

/** The signed pending-flow cookie /connect would have set in the browser (fce_state over http). */
function pendingCookie(ctx, state, customer) {
  const flow = {
    k: "pending",
    state,
    jti: "bench-ticket-0001",
    flow: "redirect",
    customer_id: customer,
    customer_name: `Customer ${customer}`,
    exp: Math.floor(Date.now() / 1000) + 1800,
  };
  const payload = b64u(JSON.stringify(flow));
  return `fce_state=${payload}.${createHmac("sha256", ctx.cookieKey).update(payload).digest("base64url")}`;
}

/** A browser coming back from Finch: fresh code, fresh state, matching signed cookie. */
export function callbackRequest(ctx, customer = CUSTOMERS.callback) {
  const state = randomBytes(32).toString("base64url");
  const code = freshCode(customer);
  return {
    method: "GET",
    path: `/callback?code=${encodeURIComponent(code)}&state=${state}`,
    headers: { cookie: pendingCookie(ctx, state, customer), accept: "text/html" },
  };
}

/** Connects `customer` through the callback of the Worker at `origin`; its connection id. */
export async function connectOne(ctx, origin, customer) {
  const res = await send(origin, callbackRequest(ctx, customer), { keepBody: true });
  const id = connectionIdFrom(res);
  if (!id) throw new Error(`seeding ${origin}: callback answered ${res.status} ${res.body?.slice(0, 200) ?? ""}`);
  return id;
}

function nextEvent(ctx, seed) {
  const w = seed.webhook;
  const i = w.next++;
  const ts = w.base + 1 + Math.floor(i / w.ids.length);
  if (ts > Date.now() / 1000 + 290)
    throw new Error("webhook scenario ran out of timestamps: raise WEBHOOK_CONNECTIONS");
  return signedEvent(ctx, w.ids[i % w.ids.length], ts);
}

function signedEvent(ctx, connectionId, timestamp, id = `msg_${randomBytes(16).toString("hex")}`) {
  const ts = String(timestamp);
  const body = JSON.stringify({
    connection_id: connectionId,
    company_id: "514aa2b7-898f-4ce7-bc05-c2fe993713e8",
    account_id: "d8e6b6a4-5f3c-4a4e-9a51-5d1f0c7f2b10",
    event_type: "account.updated",
    data: { status: "connected", authentication_method: "credential" },
  });
  const signature = createHmac("sha256", ctx.webhookKey).update(`${id}.${ts}.${body}`).digest("base64");
  return {
    method: "POST",
    path: "/webhooks/finch",
    headers: {
      "content-type": "application/json",
      "finch-event-id": id,
      "finch-timestamp": ts,
      "finch-signature": `v1,${signature}`,
    },
    body,
  };
}

const api = (ctx) => ({ authorization: `Bearer ${ctx.apiKey}`, accept: "application/json" });

/**
 * Scenario table. `route` names the route for the skip message; `make(ctx, seed)` builds
 * one request for a worker whose seed is `seed`; `ok(status)` is what counts as a success;
 * `prepare(ctx, origin)`, when present, adds to a worker's seed right before the scenario.
 */
export const SCENARIOS = [
  {
    name: "listing",
    route: "GET /api/connections",
    ok: (s) => s === 200,
    make: (ctx) => ({ method: "GET", path: `/api/connections?customer_id=${CUSTOMERS.listing}`, headers: api(ctx) }),
  },
  {
    name: "proxy",
    route: "ANY /api/connections/:id/finch/*",
    ok: (s) => s === 200,
    make: (ctx, seed) => ({
      method: "GET",
      path: `/api/connections/${seed.proxyConnection}/finch/employer/company`,
      headers: api(ctx),
    }),
  },
  {
    name: "webhook",
    route: "POST /webhooks/finch",
    ok: (s) => s >= 200 && s < 300,
    // Connections of their own, connected just before (their status_at is the seeding time).
    prepare: async (ctx, origin) => {
      const ids = [];
      for (let i = 0; i < WEBHOOK_CONNECTIONS; i++) ids.push(await connectOne(ctx, origin, CUSTOMERS.webhook));
      return { webhook: { ids, base: Math.floor(Date.now() / 1000), next: 0 } };
    },
    make: (ctx, seed) => nextEvent(ctx, seed),
  },
  {
    // Finch's retry of an event already handled: same id, re-signed with a fresh timestamp.
    name: "webhook-duplicate",
    route: "POST /webhooks/finch",
    ok: (s) => s >= 200 && s < 300,
    prepare: async (ctx, origin) => {
      const connectionId = await connectOne(ctx, origin, CUSTOMERS.webhook);
      const first = signedEvent(ctx, connectionId, Math.floor(Date.now() / 1000));
      const res = await send(origin, first, { keepBody: true });
      if (res.status < 200 || res.status > 299)
        throw new Error(`webhook-duplicate: first delivery answered ${res.status}`);
      return { duplicate: { connectionId, eventId: first.headers["finch-event-id"] } };
    },
    make: (ctx, seed) =>
      signedEvent(ctx, seed.duplicate.connectionId, Math.floor(Date.now() / 1000), seed.duplicate.eventId),
  },
  {
    name: "connect",
    route: "GET /connect",
    // Each fresh ticket claims its own SQLite-backed ledger object: capped like the callback.
    maxRequests: 400,
    ok: (s) => s === 302,
    make: (ctx) => {
      const name = `Customer ${CUSTOMERS.callback}`;
      const ticket = mintTicket(ctx.secrets.TICKET_SECRET, { sub: CUSTOMERS.callback, name });
      return {
        method: "GET",
        path: `/connect?ticket=${ticket}&customer_id=${CUSTOMERS.callback}&customer_name=${encodeURIComponent(name)}`,
        headers: { accept: "text/html" },
      };
    },
  },
  {
    name: "callback",
    route: "GET /callback",
    ok: (s) => s === 303,
    make: (ctx) => callbackRequest(ctx),
    // Each callback creates a connection, and with it a SQLite-backed writer object: local
    // workerd keeps every one open in one process and runs out of SQLite memory (SQLITE_NOMEM)
    // after a few thousand. Production spreads objects over machines; the cap keeps the local
    // run about what it measures (~400 callbacks per pass) rather than about that limit.
    maxRequests: 400,
  },
];

/** The connection id a successful callback redirected with (Location ...?connection_id=). */
export function connectionIdFrom(res) {
  if (res.status !== 303 || !res.headers.location) return undefined;
  return new URL(res.headers.location, "http://x").searchParams.get("connection_id") ?? undefined;
}
