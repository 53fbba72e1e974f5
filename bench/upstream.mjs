#!/usr/bin/env node
// A stand-in for Finch's API on loopback, for `npm run bench` only. It answers the calls the
// bench drives with realistically shaped JSON, waits a fixed `--latency-ms` before each answer,
// and counts requests per "METHOD /path" so the bench reports upstream calls per request from
// what arrived here, not from what the Workers claim to have sent.
//
//   node bench/upstream.mjs [--port 0] [--latency-ms 0]
// Prints one JSON line {"port": N} once listening. GET /__counts returns the counters (not counted).
// Tokens and codes are random per request; nothing is logged.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { port: { type: "string", default: "0" }, "latency-ms": { type: "string", default: "0" } },
});
const latencyMs = Number(values["latency-ms"]);
if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 10_000) {
  console.error("upstream: --latency-ms must be a number from 0 to 10000");
  process.exit(2);
}

const counts = Object.create(null);
const MAX_BODY = 64 * 1024;

const COMPANY = {
  id: "514aa2b7-898f-4ce7-bc05-c2fe993713e8",
  legal_name: "Acme Bench Corporation",
  entity: { type: "corporation", subtype: "s_corporation" },
  primary_email: "payroll@acme.example",
  primary_phone_number: "+15555550100",
  ein: "12-3456789",
  departments: [
    { name: "Engineering", parent: null },
    { name: "Sales", parent: null },
  ],
  locations: [
    { line1: "1 Market St", line2: null, city: "San Francisco", state: "CA", postal_code: "94105", country: "US" },
  ],
  accounts: [
    { routing_number: "021000021", account_name: "Operating", institution_name: "Bank", account_type: "checking" },
  ],
};

/** The bench encodes the customer in the code ("<random>.<base64url customer id>"), so the
 * exchange can echo customer_id the way Finch echoes the Connect session's customer. */
function customerFromCode(code) {
  const dot = code.lastIndexOf(".");
  if (dot < 0) return null;
  const id = Buffer.from(code.slice(dot + 1), "base64url").toString("utf8");
  return id.length > 0 && id.length <= 255 ? id : null;
}

/**
 * Which connection each issued token belongs to, so GET /introspect names the right one (the
 * Worker refuses an answer about another connection). Bounded: the oldest are forgotten.
 */
const tokens = new Map();
const MAX_TOKENS = 100_000;

function tokenResponse(code) {
  const customerId = customerFromCode(code);
  const accessToken = randomUUID();
  const connectionId = randomUUID();
  tokens.set(accessToken, connectionId);
  if (tokens.size > MAX_TOKENS) tokens.delete(tokens.keys().next().value);
  return {
    access_token: accessToken,
    token_type: "bearer",
    connection_id: connectionId,
    client_type: "sandbox",
    connection_type: "provider",
    entity_ids: [randomUUID()],
    products: ["company", "directory", "individual", "employment"],
    provider_id: "gusto",
    account_id: randomUUID(),
    company_id: randomUUID(),
    customer_id: customerId,
    customer_name: customerId ? `Customer ${customerId}` : null,
  };
}

const error = (code, name, message) => ({ status: code, body: { code, name, message } });
const connectionOf = (req) => tokens.get((req.headers.authorization ?? "").slice("Bearer ".length));
const bearer = (req) => /^Bearer \S{8,}$/.test(req.headers.authorization ?? "");

function route(req, url, body, port) {
  const key = `${req.method} ${url.pathname}`;
  if (key === "POST /auth/token") {
    let json;
    try {
      json = JSON.parse(body);
    } catch {
      return error(400, "bad_request", "body is not JSON");
    }
    if (!json?.client_id || !json?.client_secret || typeof json?.code !== "string") {
      return error(400, "invalid_request", "client_id, client_secret and code are required");
    }
    return { status: 200, body: tokenResponse(json.code) };
  }
  if (key === "POST /connect/sessions") {
    if (!(req.headers.authorization ?? "").startsWith("Basic ")) return error(401, "invalid_client_error", "no auth");
    const session = `sess_${randomBytes(12).toString("hex")}`;
    return {
      status: 200,
      body: { session_id: session, connect_url: `http://127.0.0.1:${port}/authorize?session=${session}` },
    };
  }
  if (key === "GET /employer/company") {
    return bearer(req) ? { status: 200, body: COMPANY } : error(401, "authentication_error", "no token");
  }
  if (key === "GET /introspect") {
    if (!bearer(req)) return error(401, "authentication_error", "no token");
    return {
      status: 200,
      body: {
        ...(connectionOf(req) ? { connection_id: connectionOf(req) } : {}),
        connection_status: { status: "connected", last_successful_sync: null, message: null },
        client_type: "sandbox",
        connection_type: "provider",
        products: ["company", "directory"],
        provider_id: "gusto",
      },
    };
  }
  return error(404, "not_found", "no such route");
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (req.method === "GET" && url.pathname === "/__counts") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ counts }));
    return;
  }
  const key = `${req.method} ${url.pathname}`;
  counts[key] = (counts[key] ?? 0) + 1;
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("end", () => {
    const answer = () => {
      const { status, body } = route(req, url, Buffer.concat(chunks).toString("utf8"), server.address().port);
      res.writeHead(status, {
        "content-type": "application/json",
        "finch-request-id": randomUUID(),
      });
      res.end(JSON.stringify(body));
    };
    if (latencyMs > 0) setTimeout(answer, latencyMs);
    else answer();
  });
});
server.keepAliveTimeout = 30_000;

server.listen({ port: Number(values.port), host: "127.0.0.1" }, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
