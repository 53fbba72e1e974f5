// Step costs for `npm run bench` (never shipped). GET /<step>?n=K runs one step of the
// production Worker's callback or proxy path K times, using the production modules
// themselves, and answers 204. The bench reads workerd's CPU time around a batch of such
// requests and subtracts the "noop" step, which gives the CPU cost of one call of each step.
// The inputs are built once per isolate, like the Worker's own per-isolate caches.
import * as v from "valibot";
import { app } from "../../src/app";
import { matchesAny } from "../../src/crypto/compare";
import { createKeyRing } from "../../src/crypto/keyring";
import { cookieKey, openPending, sealFlow } from "../../src/domain/flow-state";
import { TokenSchema } from "../../src/finch/schemas";
import { sha256Hex } from "../../src/lib/encoding";
import { newTrace } from "../../src/lib/trace";
import {
  ConnectionStore,
  connectionKey,
  customerIndexKey,
  listingMetadata,
  parseRecord,
} from "../../src/storage/connections";
import { WriterCore } from "../../src/writer/core";
import { settle } from "../../src/writer/protocol";
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

let fixtures;
async function setup(env) {
  const ring = createKeyRing(env.ENCRYPTION_KEYS);
  const key = await cookieKey(env.TICKET_SECRET);
  const now = new Date().toISOString();
  const pending = {
    k: "pending",
    state: "s".repeat(43),
    flow: "redirect",
    customer_id: "bench-callback",
    customer_name: "Customer bench-callback",
    exp: Math.floor(Date.now() / 1000) + 1800,
  };
  const token = JSON.parse(TOKEN_JSON);
  const record = {
    v: 1,
    connection_id: ID,
    customer_id: token.customer_id,
    customer_name: token.customer_name,
    customer_email: null,
    provider_id: token.provider_id,
    products: token.products,
    client_type: token.client_type,
    connection_type: token.connection_type,
    company_id: token.company_id,
    account_id: token.account_id,
    status: "connected",
    status_at: now,
    created_at: now,
    updated_at: now,
    token: await ring.seal(token.access_token, connectionKey(ID)),
  };
  const done = { k: "done", state_hash: "h".repeat(64), connection_id: ID, provider_id: "gusto", exp: pending.exp };
  // Whole requests with KV and Finch replaced by in-isolate stubs: what each Worker spends
  // itself on a callback or proxied call, without the local KV simulator and without a real
  // subrequest (both subjects make the same one upstream call; KV is counted separately).
  const stubKv = memoryKv();
  const stubEnv = { ...env, CONNECTIONS: stubKv, FINCH_API_BASE_URL: "http://finch.stub" };
  stubEnv.CONNECTION_WRITER = memoryWriters(stubEnv, ring);
  const bareEnv = { ...env, CONNECTIONS: memoryKv(), FINCH_API_BASE_URL: "http://finch.stub" };
  const state = "t".repeat(43);
  const stubPending = { ...pending, state };
  await stubKv.put(`conn:${ID}`, JSON.stringify(record));
  await bareEnv.CONNECTIONS.put(`conn:${ID}`, token.access_token);
  return {
    stubEnv,
    bareEnv,
    callbackUrl: `http://127.0.0.1/callback?code=bench-code&state=${state}`,
    callbackCookie: `fce_state=${await sealFlow(key, stubPending)}`,
    proxyUrl: `http://127.0.0.1/api/connections/${ID}/finch/employer/company`,
    ring,
    key,
    record,
    done,
    recordJson: JSON.stringify(record),
    pendingCookie: await sealFlow(key, pending),
    apiKeys: env.API_KEYS.split(","),
  };
}

/**
 * The connections' writers in the isolate (no Durable Object hop): a namespace whose stubs run
 * WriterCore on in-memory storage and the stub KV, so the whole callback includes the writer's
 * own work (in production it runs in the object, billed as a Durable Object request).
 */
function memoryWriters(env, ring) {
  const cores = new Map();
  const storage = () => {
    let state;
    return {
      load: async () => state,
      save: async (s) => {
        state = s;
      },
      seen: async () => false,
      remember: async () => {},
    };
  };
  const core = (id) => {
    let c = cores.get(id);
    if (!c) {
      const settings = {
        baseUrl: env.FINCH_API_BASE_URL,
        clientId: env.FINCH_CLIENT_ID,
        clientSecret: env.FINCH_CLIENT_SECRET,
        timeoutMs: 10_000,
      };
      c = new WriterCore({
        connectionId: id,
        storage: storage(),
        store: new ConnectionStore(env.CONNECTIONS, ring),
        finch: () => settings,
        events: () => undefined,
        now: () => new Date(),
      });
      cores.set(id, c);
    }
    return c;
  };
  const run = (id, work) => {
    const trace = newTrace("writer");
    return settle(trace, () => work(core(id), trace));
  };
  return {
    idFromName: (name) => name,
    get: () => ({
      completeConnect: (id, input) => run(id, (c, t) => c.connect(input, t)),
      current: (id) => run(id, (c, t) => c.current(t)),
      staleToken: (id, gen, reauth) => run(id, (c, t) => c.staleToken(gen, reauth, t)),
    }),
  };
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

/** Runs `work` with the global fetch answered by stubFinch; 204 unless the answer is unexpected. */
async function withStubFinch(work, expected) {
  const real = globalThis.fetch;
  globalThis.fetch = stubFinch;
  try {
    const res = await work();
    await res.arrayBuffer();
    if (res.status !== expected) throw new Error(`unexpected ${res.status}`);
  } finally {
    globalThis.fetch = real;
  }
}

const STEPS = {
  noop: async () => {},
  "cookie: verify + parse pending": (f) => openPending(f.key, f.pendingCookie),
  "state: sha256": () => sha256Hex("s".repeat(43)),
  "exchange: parse + validate token": () => v.safeParse(TokenSchema, JSON.parse(TOKEN_JSON)),
  "token: AES-GCM seal": (f) => f.ring.seal("3f1c1f5e-8f5e-4c36-9b8a-7f3e2d1c0b9a", connectionKey(ID)),
  "record: serialise + metadata": (f) => [JSON.stringify(f.record), listingMetadata(f.record)],
  "index: key (sha256)": (f) => customerIndexKey("bench-callback", f.record.created_at, ID),
  "cookie: seal done": (f) => sealFlow(f.key, f.done),
  "proxy: parse + validate record": (f) => parseRecord(f.recordJson, ID),
  "proxy: AES-GCM open": (f) => f.ring.open(f.record.token, connectionKey(ID)),
  "api key: constant-time match": (f) => matchesAny(f.apiKeys[0], f.apiKeys),
  // What requestLog writes per request, without the rest of the frame.
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
  // What http/security.ts does to every response: ten header writes into the runtime.
  "headers: 10 sets on a new Response": () => {
    const headers = new Response(null, { status: 204 }).headers;
    for (let i = 0; i < 10; i++) headers.set(`x-bench-${i}`, "no-store; max-age=0; same-origin");
  },
  "whole callback, KV + Finch stubbed: ours": (f) =>
    withStubFinch(
      () =>
        app.fetch(
          new Request(f.callbackUrl, { headers: { cookie: f.callbackCookie, accept: "text/html" } }),
          f.stubEnv,
        ),
      303,
    ),
  "whole callback, KV + Finch stubbed: bare": (f) =>
    withStubFinch(() => bare.fetch(new Request(f.callbackUrl), f.bareEnv), 303),
  "whole proxied call, KV + Finch stubbed: ours": (f, env) =>
    withStubFinch(
      () =>
        app.fetch(
          new Request(f.proxyUrl, { headers: { authorization: `Bearer ${env.API_KEYS.split(",")[0]}` } }),
          f.stubEnv,
        ),
      200,
    ),
  "whole proxied call, KV + Finch stubbed: bare": (f) =>
    withStubFinch(() => bare.fetch(new Request(f.proxyUrl), f.bareEnv), 200),
  "frame: routing + middleware + log line (404)": (_f, env) =>
    app.fetch(new Request("http://127.0.0.1/__no_such_route", { headers: { accept: "application/json" } }), env),
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/") return Response.json(Object.keys(STEPS));
    const step = STEPS[decodeURIComponent(url.pathname.slice(1))];
    if (!step) return new Response("no such step", { status: 404 });
    fixtures ??= await setup(env);
    const n = Number(url.searchParams.get("n") ?? "1");
    for (let i = 0; i < n; i++) await step(fixtures, env);
    return new Response(null, { status: 204 });
  },
};
