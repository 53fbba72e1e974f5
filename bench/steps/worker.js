// Step costs for `npm run bench` (never shipped). GET /<step>?n=K runs one step K times and
// answers 204. The bench reads workerd's CPU time around a batch of such requests and
// subtracts the "noop" step, which gives the CPU cost of one call of each step.
//
// The production Worker is reached only through its public entry point, src/index.ts (the
// `fetch` handler a deployment runs), so refactoring src/ cannot break this file unnoticed:
// whole callbacks and proxied calls go through it, with KV and Finch stubbed in the isolate.
// The single steps are the runtime primitives those paths are made of (WebCrypto, JSON,
// headers, one log line), each with inputs shaped like the Worker's.
// The inputs are built once per isolate (POST /__setup), like the Worker's own caches.

import { eventSinks } from "../../src/app-events/outbox";
import { EventOutbox } from "../../src/app-events/outbox-table";
// The one exception to "public entry points only": the connection's writer runs in its own
// Durable Object in production, which cannot be constructed outside the runtime's object
// machinery. Here the same instance logic the object runs (WriterHost: the operation, then the
// owed KV writes sent and the outbox handed over) runs in this isolate on the production SQL
// storage code (sqlWriterStorage, EventOutbox) over an in-memory stand-in for SQLite, with the
// stubbed KV and a queue that discards: so the whole callback includes the writer's own work
// (the commit of state, outbox and owed rows, the event validated, the KV writes, the
// hand-off) without a Durable Object hop. A refactor of these modules breaks the bundle of
// this worker, or the stand-in's statement list, which fails the bench loudly (smoke run included).
import { createKeyRing } from "../../src/crypto/keyring";
import worker from "../../src/index";
import { ConnectionStore } from "../../src/storage/connection-store";
import { connectInput } from "../../src/writer/commands";
import { WriterHost } from "../../src/writer/host";
import { sqlWriterStorage } from "../../src/writer/sql-storage";
import bare from "../bare/worker.js";

const ID = "8c6e2a6f-33f8-4a4b-9a37-2b3f4a9f1d0e";
const TOKEN_JSON = JSON.stringify({
  access_token: "3f1c1f5e-8f5e-4c36-9b8a-7f3e2d1c0b9a",
  token_type: "bearer",
  connection_id: ID,
  client_type: "sandbox",
  connection_type: "provider",
  entity_ids: ["0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"],
  products: ["company", "directory", "individual", "employment"],
  provider_id: "gusto",
  account_id: "d8e6b6a4-5f3c-4a4e-9a51-5d1f0c7f2b10",
  company_id: "514aa2b7-898f-4ce7-bc05-c2fe993713e8",
  customer_id: "bench-callback",
  customer_name: "Customer bench-callback",
});
const encoder = new TextEncoder();

/**
 * `callback` is a browser coming back from Finch as the bench builds it ({ path, headers }:
 * fresh state and its signed pending cookie). Each subject connects one customer through
 * its own callback first, so the proxied calls find a connection stored the subject's way.
 */
async function setup(env, ctx, callback) {
  // The rate budget's Durable Object is I/O like KV: off here (and on below, its object answered
  // in the isolate); its round trip is measured in the whole-request passes.
  // Lifecycle events go to a queue that discards them (I/O, like KV): the writer's hand-off runs.
  const stubEnv = {
    ...env,
    CONNECTIONS: memoryKv(),
    FINCH_API_BASE_URL: "http://finch.stub",
    FINCH_RATE_BUDGET: "off",
    APP_EVENTS: discardingQueue(),
  };
  stubEnv.CONNECTION_WRITER = memoryWriters(stubEnv, createKeyRing(env.ENCRYPTION_KEYS));
  // The same Worker with the rate budget on, its object answered in the isolate: what the
  // Worker itself spends on its budget (the lease book, the slot's steps). With the bench's
  // raised limits a busy isolate takes its slots from leases; at Finch's default limits every
  // call asks the object (here: at once).
  const budgetEnv = (limits) => ({
    ...stubEnv,
    FINCH_RATE_BUDGET: "on",
    FINCH_RATE_LIMITS: limits,
    RATE_BUDGET: answeringBudget(),
  });
  const leasedEnv = budgetEnv("company=1000000,directory=1000000");
  const askingEnv = budgetEnv("");
  const bareEnv = { ...env, CONNECTIONS: memoryKv(), FINCH_API_BASE_URL: "http://finch.stub" };
  const callbackUrl = `http://127.0.0.1${callback.path}`;
  const oursCallback = () => worker.fetch(new Request(callbackUrl, { headers: callback.headers }), stubEnv, ctx);
  const bareCallback = () => bare.fetch(new Request(callbackUrl), bareEnv);
  const proxyUrl = async (connect) => {
    const location = (await withStubFinch(connect, 303)).headers.get("location") ?? "";
    const id = new URL(location, "http://x").searchParams.get("connection_id");
    if (!id) throw new Error("steps setup: the callback named no connection");
    return `http://127.0.0.1/api/connections/${id}/finch/employer/company`;
  };
  const aes = await crypto.subtle.importKey("raw", crypto.getRandomValues(new Uint8Array(32)), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  const hmac = await crypto.subtle.importKey(
    "raw",
    crypto.getRandomValues(new Uint8Array(32)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aad = encoder.encode(`conn:${ID}`);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, aes, encoder.encode(ID));
  // A pending-flow cookie's size: ~300 bytes of base64url payload, a 32-byte HMAC.
  const cookiePayload = btoa(TOKEN_JSON.slice(0, 220)).replace(/=+$/, "");
  const cookieMac = await crypto.subtle.sign("HMAC", hmac, encoder.encode(cookiePayload));
  const apiKey = env.API_KEYS.split(",")[0];
  // The callback's two halves, for the split steps: the writer's connect of a new connection
  // alone, and the Worker's side with a writer that answers at once (with facts the real
  // writer returned once, renamed to each call's connection id).
  const token = JSON.parse(TOKEN_JSON);
  const writerInput = connectInput(
    {
      accessToken: token.access_token,
      customerId: token.customer_id,
      customerName: token.customer_name,
      customerEmail: null,
    },
    token,
  );
  const writerConnect = async () => {
    const id = freshId();
    const caller = { actor: "connect", requestId: "bench" };
    const outcome = await stubEnv.CONNECTION_WRITER.get().execute(id, { op: "connect", args: [writerInput] }, caller);
    if (!outcome.ok) throw new Error(`steps: writer answered ${outcome.code}`);
    return outcome;
  };
  const facts = (await writerConnect()).value;
  const answeringEnv = { ...stubEnv, CONNECTION_WRITER: answeringWriters(facts) };
  const workerSideCallback = () =>
    worker.fetch(new Request(callbackUrl, { headers: callback.headers }), answeringEnv, ctx);
  return {
    writerConnect,
    workerSideCallback,
    stubEnv,
    leasedEnv,
    askingEnv,
    bareEnv,
    oursCallback,
    bareCallback,
    oursProxy: await proxyUrl(oursCallback),
    bareProxy: await proxyUrl(bareCallback),
    apiKey,
    aes,
    hmac,
    iv,
    aad,
    sealed,
    cookiePayload,
    cookieMac,
  };
}

/**
 * The connections' writers in the isolate (no Durable Object hop): one writer per connection
 * id, as the runtime keeps one object per id, each on its own in-memory storage, run by the
 * WriterHost the object runs. The RPC's serialisation of arguments and answers (billed on both
 * sides in production) is not measured.
 */
function memoryWriters(env, ring) {
  const hosts = new Map();
  const settings = {
    baseUrl: env.FINCH_API_BASE_URL,
    clientId: env.FINCH_CLIENT_ID,
    clientSecret: env.FINCH_CLIENT_SECRET,
    timeoutMs: 10_000,
  };
  const host = (id) => {
    let h = hosts.get(id);
    if (!h) {
      const storage = memoryDurableStorage();
      const outbox = new EventOutbox(storage.sql);
      h = new WriterHost({
        storage: sqlWriterStorage(storage, outbox),
        outbox,
        store: new ConnectionStore(env.CONNECTIONS, ring),
        sinks: () => eventSinks(env),
        finch: () => settings,
        events: () => undefined,
        now: () => Date.now(),
      });
      hosts.set(id, h);
    }
    return h;
  };
  return {
    idFromName: (name) => name,
    get: () => ({ execute: (id, command, caller) => host(id).run(id, command, caller) }),
  };
}

/**
 * Rate-budget objects that grant at once (src/rate-budget/object.ts's answers, without its
 * window): a lease as large as the Worker asks for, within a 64th of the limit.
 */
function answeringBudget() {
  let grants = 0;
  const stub = {
    acquire: async (req) => ({
      ok: true,
      granted: Math.min(Math.max(1, req.want ?? 1), Math.max(1, Math.floor(req.limit / 64))),
      grant: ++grants,
    }),
    release: async () => {},
    pause: async () => {},
  };
  return { idFromName: (name) => name, get: () => stub };
}

/** Writers that answer a connect at once with `facts` for the called id: the Worker's side alone. */
function answeringWriters(facts) {
  const stub = {
    execute: async (id) => ({
      ok: true,
      value: { ...facts, connection_id: id },
      trace: { notes: [], upstream: 0 },
    }),
  };
  return { idFromName: (name) => name, get: () => stub };
}

/**
 * A Durable Object's SQL storage as the writer uses it, in memory: it answers the statements
 * the writer and its outbox run (each one listed, so a new statement in src/ fails here
 * instead of being measured as nothing); a transaction runs its callback. SQLite's own CPU
 * is not measured; the writer's serialisation and checks around it are.
 */
function memoryDurableStorage() {
  let version;
  let state;
  let outbox = [];
  let seq = 0;
  let forwards = [];
  const owed = new Map();
  const ids = new Map();
  let audit = [];
  let anchor;
  const rows = (list) => ({
    toArray: () => list,
    one: () => list[0],
    [Symbol.iterator]: () => list[Symbol.iterator](),
  });
  const none = [];
  const OWED = "key, gen, value, metadata, attempts, due_at, sent_at, clean_from";
  const owedRow = ([key, gen, value, metadata, attempts, due_at, sent_at, clean_from]) => ({
    key,
    gen,
    value,
    metadata,
    attempts,
    due_at,
    sent_at,
    clean_from,
  });
  const done =
    (fn) =>
    (...args) => {
      fn(...args);
      return none;
    };
  // Keyed by the exact statement text: a changed statement in src/ is unknown here, and fails.
  const statements = new Map([
    [
      "SELECT version FROM schema_version",
      () => {
        if (version === undefined) throw new Error("no such table: schema_version");
        return version === null ? none : [{ version }];
      },
    ],
    ["DELETE FROM schema_version", done(() => {})],
    ["INSERT INTO schema_version (version) VALUES (?)", done((v) => (version = v))],
    ["SELECT v FROM writer_state WHERE k = 'state'", () => (state === undefined ? none : [{ v: state }])],
    ["INSERT OR REPLACE INTO writer_state (k, v) VALUES ('state', ?)", done((v) => (state = v))],
    [
      "INSERT INTO event_outbox (event_id, body) VALUES (?, ?)",
      done((id, body) => outbox.push({ seq: ++seq, id, body })),
    ],
    ["SELECT COUNT(*) AS n FROM event_outbox", () => [{ n: outbox.length }]],
    ["SELECT seq, body FROM event_outbox ORDER BY seq LIMIT ?", (limit) => outbox.slice(0, limit)],
    ["DELETE FROM event_outbox WHERE seq <= ?", done((last) => (outbox = outbox.filter((r) => r.seq > last)))],
    ["INSERT INTO forward_outbox (body) VALUES (?)", done((body) => forwards.push({ seq: ++seq, body }))],
    ["SELECT seq, body FROM forward_outbox ORDER BY seq LIMIT ?", (limit) => forwards.slice(0, limit)],
    ["DELETE FROM forward_outbox WHERE seq <= ?", done((last) => (forwards = forwards.filter((r) => r.seq > last)))],
    ["INSERT OR REPLACE INTO event_ids (id, at) VALUES (?, ?)", done((id, at) => ids.set(id, at))],
    ["DELETE FROM event_ids WHERE at <= ?", done(() => {})],
    ["DELETE FROM event_ids WHERE id NOT IN (SELECT id FROM event_ids ORDER BY at DESC LIMIT ?)", done(() => {})],
    ["SELECT at FROM event_ids WHERE id = ?", (id) => (ids.has(id) ? [{ at: ids.get(id) }] : none)],
    [`SELECT ${OWED} FROM kv_owed ORDER BY key`, () => [...owed.values()].sort((a, b) => (a.key < b.key ? -1 : 1))],
    [`SELECT ${OWED} FROM kv_owed WHERE key = ?`, (key) => (owed.has(key) ? [owed.get(key)] : none)],
    [
      `INSERT OR REPLACE INTO kv_owed (${OWED}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      done((...values) => owed.set(values[0], owedRow(values))),
    ],
    [
      "DELETE FROM kv_owed WHERE key = ? AND gen = ?",
      done((key, gen) => owed.get(key)?.gen === gen && owed.delete(key)),
    ],
    ["SELECT seq, hash FROM audit_anchor WHERE k = 'anchor'", () => (anchor ? [anchor] : none)],
    ["SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", () => audit.slice(-1)],
    [
      "INSERT INTO audit (seq, at, action, actor, request_id, hash) VALUES (?, ?, ?, ?, ?, ?)",
      done((seq, at, action, actor, request_id, hash) => audit.push({ seq, at, action, actor, request_id, hash })),
    ],
    ["SELECT hash FROM audit WHERE seq = ?", (seq) => audit.filter((e) => e.seq === seq)],
    ["DELETE FROM audit WHERE seq = ?", done((seq) => (audit = audit.filter((e) => e.seq !== seq)))],
    [
      "INSERT OR REPLACE INTO audit_anchor (k, seq, hash) VALUES ('anchor', ?, ?)",
      done((seq, hash) => (anchor = { seq, hash })),
    ],
  ]);
  const sql = {
    exec(query, ...bindings) {
      if (query.startsWith("CREATE TABLE")) {
        if (query.includes("schema_version")) version ??= null;
        return rows(none);
      }
      const run = statements.get(query);
      if (!run) throw new Error(`steps: the in-memory writer storage does not know: ${query}`);
      return rows(run(...bindings));
    },
  };
  return {
    sql,
    transactionSync: (fn) => fn(),
    setAlarm: async () => {},
    deleteAlarm: async () => {},
  };
}

/** A Queue that accepts and discards: the app's event queue without its I/O. */
function discardingQueue() {
  return { send: async () => {}, sendBatch: async () => {} };
}

/** A KV namespace in the isolate's memory: the calls the Workers make, nothing more. */
function memoryKv() {
  const map = new Map();
  return {
    async get(key) {
      return map.get(key)?.value ?? null;
    },
    async getWithMetadata(key) {
      const e = map.get(key);
      return { value: e?.value ?? null, metadata: e?.metadata ?? null };
    },
    async put(key, value, opts) {
      map.set(key, { value, metadata: opts?.metadata ?? null });
    },
    async delete(key) {
      map.delete(key);
    },
  };
}

const COMPANY_JSON = JSON.stringify({
  id: "514aa2b7-898f-4ce7-bc05-c2fe993713e8",
  legal_name: "Acme Bench Corporation",
});
let stubSeq = 0;
let writerSeq = 0;
/** A connection id no exchange returns (the stub's ids start with ID's first 24 characters). */
const freshId = () => `9${ID.slice(1, 24)}${String(writerSeq++).padStart(12, "0")}`;
/** Finch, answered in the isolate: a fresh connection per exchange, like the bench's stand-in. */
async function stubFinch(input) {
  const url = typeof input === "string" ? input : input.url;
  if (url.endsWith("/auth/token")) {
    const n = stubSeq++;
    const token = JSON.parse(TOKEN_JSON);
    token.connection_id = `${ID.slice(0, 24)}${String(n).padStart(12, "0")}`;
    token.access_token = `tok-${n}`;
    return new Response(JSON.stringify(token), { headers: { "content-type": "application/json" } });
  }
  return new Response(COMPANY_JSON, { headers: { "content-type": "application/json", "finch-request-id": "req-1" } });
}

/** Runs `work` with the global fetch answered by stubFinch; throws on an unexpected status. */
async function withStubFinch(work, expected) {
  const real = globalThis.fetch;
  globalThis.fetch = stubFinch;
  try {
    const res = await work();
    await res.arrayBuffer();
    if (res.status !== expected) throw new Error(`unexpected ${res.status}`);
    return res;
  } finally {
    globalThis.fetch = real;
  }
}

/** Constant-time comparison as the Worker does it: same-length buffers, the runtime's own. */
const timingSafeEqual = (a, b) => {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.byteLength === y.byteLength && crypto.subtle.timingSafeEqual(x, y);
};

const STEPS = {
  noop: async () => {},
  "HMAC-SHA256 verify (a flow cookie)": (f) =>
    crypto.subtle.verify("HMAC", f.hmac, f.cookieMac, encoder.encode(f.cookiePayload)),
  "HMAC-SHA256 sign (a flow cookie)": (f) => crypto.subtle.sign("HMAC", f.hmac, encoder.encode(f.cookiePayload)),
  "SHA-256 (a state value, an index key)": () => crypto.subtle.digest("SHA-256", encoder.encode("s".repeat(43))),
  "AES-GCM seal (a token)": (f) =>
    crypto.subtle.encrypt(
      { name: "AES-GCM", iv: crypto.getRandomValues(new Uint8Array(12)), additionalData: f.aad },
      f.aes,
      encoder.encode(ID),
    ),
  "AES-GCM open (a token)": (f) =>
    crypto.subtle.decrypt({ name: "AES-GCM", iv: f.iv, additionalData: f.aad }, f.aes, f.sealed),
  "JSON parse (Finch's token reply)": () => JSON.parse(TOKEN_JSON),
  "constant-time compare (an API key)": (f) => timingSafeEqual(f.apiKey, f.apiKey),
  // What the request log writes per request, without the rest of the frame.
  "log: request id + one JSON line (console.log)": () =>
    console.log(
      JSON.stringify({
        level: "info",
        msg: "request",
        request_id: crypto.randomUUID(),
        method: "GET",
        route: "/callback",
        status: 303,
        outcome: "ok",
        duration_ms: 0,
        upstream_calls: 1,
        connection_id: ID,
      }),
    ),
  // What the security headers middleware does to every response: ten header writes.
  "headers: 10 sets on a new Response": () => {
    const headers = new Response(null, { status: 204 }).headers;
    for (let i = 0; i < 10; i++) headers.set(`x-bench-${i}`, "no-store; max-age=0; same-origin");
  },
  "whole callback, KV + Finch stubbed: ours": (f) => withStubFinch(f.oursCallback, 303),
  "whole callback, KV + Finch stubbed: bare": (f) => withStubFinch(f.bareCallback, 303),
  // The whole callback's two halves. In production they run in two isolates and are billed
  // apart (the Worker's request; the writer's, as a Durable Object request). Run in one
  // isolate, interleaved, the same code costs more than the two halves measured apart (a
  // larger working set per call: the whole is not their sum), so the whole stays beside them.
  "callback, Worker side: writer answered by an in-isolate stub": (f) => withStubFinch(f.workerSideCallback, 303),
  "writer: connect with event, in-memory storage": (f) => f.writerConnect(),
  "whole proxied call, KV + Finch stubbed: ours": (f, _env, ctx) =>
    withStubFinch(
      () =>
        worker.fetch(new Request(f.oursProxy, { headers: { authorization: `Bearer ${f.apiKey}` } }), f.stubEnv, ctx),
      200,
    ),
  "whole proxied call, KV + Finch stubbed, rate budget on (leases): ours": (f, _env, ctx) =>
    withStubFinch(
      () =>
        worker.fetch(new Request(f.oursProxy, { headers: { authorization: `Bearer ${f.apiKey}` } }), f.leasedEnv, ctx),
      200,
    ),
  "whole proxied call, KV + Finch stubbed, rate budget on (every call asks): ours": (f, _env, ctx) =>
    withStubFinch(
      () =>
        worker.fetch(new Request(f.oursProxy, { headers: { authorization: `Bearer ${f.apiKey}` } }), f.askingEnv, ctx),
      200,
    ),
  "whole proxied call, KV + Finch stubbed: bare": (f) =>
    withStubFinch(() => bare.fetch(new Request(f.bareProxy), f.bareEnv), 200),
  "frame: routing + middleware + log line (404)": (_f, env, ctx) =>
    worker.fetch(
      new Request("http://127.0.0.1/__no_such_route", { headers: { accept: "application/json" } }),
      env,
      ctx,
    ),
};

let fixtures;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/") return Response.json(Object.keys(STEPS));
    if (url.pathname === "/__setup") {
      fixtures = await setup(env, ctx, await request.json());
      return new Response(null, { status: 204 });
    }
    const step = STEPS[decodeURIComponent(url.pathname.slice(1))];
    if (!step) return new Response("no such step", { status: 404 });
    if (!fixtures) return new Response("POST /__setup first", { status: 409 });
    const n = Number(url.searchParams.get("n") ?? "1");
    for (let i = 0; i < n; i++) await step(fixtures, env, ctx);
    return new Response(null, { status: 204 });
  },
};
