#!/usr/bin/env node
// Prints a ready-to-open Connect link (or just the ticket) for the local dev server.
// Usage: npm run ticket -- --customer-id acme --customer-name "Acme Inc"
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { readDevVars } from "./lib/dev-vars.mjs";
import {
  bindClaim,
  connectUrl,
  DEFAULT_TICKET_TTL_SECONDS,
  MAX_TICKET_TTL_SECONDS,
  mintTicket,
} from "./lib/ticket.mjs";

const HELP = `Mint a Connect ticket for the local dev server and print the link to open.

Usage:
  npm run ticket -- --customer-id <id> --customer-name <name> [options]

Required:
  --customer-id <id>        your customer's id (ticket claim "sub")
  --customer-name <name>    your customer's display name (claim "name")

Options:
  --email <address>         customer email, passed on to Finch
  --products <list>         comma-separated Finch products, e.g. company,directory
                            (default: the Worker's FINCH_PRODUCTS)
  --return-to <url>         where to send the browser afterwards (origin must be in
                            ALLOWED_RETURN_ORIGINS)
  --connection-id <id>      re-authenticate this existing connection
  --bind-cookie-value <v>   bind the ticket to the app's session: the value of the cookie
                            named by the Worker's TICKET_BINDING_COOKIE (claim "bind" is its
                            SHA-256); only a browser sending that cookie can open the link
  --flow redirect|embedded  redirect (default) prints /connect?ticket=...,
                            embedded prints /connect/session?ticket=...
  --ttl <seconds>           ticket lifetime, default ${DEFAULT_TICKET_TTL_SECONDS}, max ${MAX_TICKET_TTL_SECONDS}
  --base-url <url>          Worker base URL, default http://127.0.0.1:8787
  --secret-file <path>      file holding TICKET_SECRET, default .dev.vars
  --json                    print only the ticket (no URL)

Each ticket is a one-time link (a fresh random jti): it starts one Finch Connect session, and
only the browser that opened it first can come back to that session.
  -h, --help                show this help

Exit codes: 0 ok, 2 bad arguments or no TICKET_SECRET.`;

function fail(message) {
  process.stderr.write(`ticket: ${message}\nRun with --help for usage.\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      "customer-id": { type: "string" },
      "customer-name": { type: "string" },
      email: { type: "string" },
      products: { type: "string" },
      "return-to": { type: "string" },
      "connection-id": { type: "string" },
      "bind-cookie-value": { type: "string" },
      flow: { type: "string" },
      ttl: { type: "string" },
      "base-url": { type: "string", default: "http://127.0.0.1:8787" },
      "secret-file": { type: "string", default: ".dev.vars" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const customerId = values["customer-id"]?.trim();
const customerName = values["customer-name"]?.trim();
if (!customerId) fail("--customer-id is required");
if (!customerName) fail("--customer-name is required");
if (customerId.length > 255 || customerName.length > 255)
  fail("--customer-id and --customer-name are limited to 255 characters");

const flow = values.flow;
if (flow !== undefined && flow !== "redirect" && flow !== "embedded") fail('--flow must be "redirect" or "embedded"');

let ttlSeconds = DEFAULT_TICKET_TTL_SECONDS;
if (values.ttl !== undefined) {
  ttlSeconds = Number(values.ttl);
  if (!/^\d+$/.test(values.ttl) || ttlSeconds < 1 || ttlSeconds > MAX_TICKET_TTL_SECONDS) {
    fail(`--ttl must be a whole number of seconds from 1 to ${MAX_TICKET_TTL_SECONDS}`);
  }
}

let products;
if (values.products !== undefined) {
  products = values.products
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (products.length === 0) fail("--products must list at least one product");
}

const returnTo = values["return-to"];
if (returnTo !== undefined) {
  try {
    const u = new URL(returnTo);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
  } catch {
    fail("--return-to must be an absolute http(s) URL");
  }
}

try {
  new URL(values["base-url"]);
} catch {
  fail("--base-url must be an absolute URL");
}

const secretFile = resolve(values["secret-file"]);
const secret = readDevVars(secretFile)?.TICKET_SECRET;
if (!secret) {
  fail(`no TICKET_SECRET in ${secretFile}. Run \`npm start\` once to generate .dev.vars, or pass --secret-file.`);
}

const claims = { sub: customerId, name: customerName };
if (values.email) claims.email = values.email;
if (products) claims.products = products;
if (returnTo) claims.return_to = returnTo;
if (values["connection-id"]) claims.connection_id = values["connection-id"];
if (values["bind-cookie-value"] !== undefined) {
  if (values["bind-cookie-value"] === "") fail("--bind-cookie-value must not be empty");
  claims.bind = bindClaim(values["bind-cookie-value"]);
}

const ticket = mintTicket(secret, claims, { ttlSeconds });
if (values.json) {
  process.stdout.write(`${ticket}\n`);
} else {
  process.stdout.write(`${connectUrl(values["base-url"], ticket, flow ?? "redirect")}\n`);
  process.stderr.write(
    `(valid for ${ttlSeconds} s, until ${new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000).toISOString()})\n`,
  );
}
