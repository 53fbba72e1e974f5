#!/usr/bin/env node
// `npm start`: local, offline development. Generates development secrets on first run, starts
// the Finch mock (port 8788), the Worker (port 8787) and a receiver for the app's lifecycle
// events (port 8789, printed here), and prints a ready-to-open Connect link.
// Ports: PORT, MOCK_FINCH_PORT and APP_RECEIVER_PORT. Ctrl-C stops all three, including the workerd children.
import { relative } from "node:path";
import { startAppReceiver } from "./lib/app-receiver.mjs";
import { killGroupNow, startDevServers, stopGroup } from "./lib/dev-server.mjs";
import { prepareDevVars, REPO_ROOT } from "./lib/dev-vars.mjs";
import { connectUrl, MAX_TICKET_TTL_SECONDS, mintTicket } from "./lib/ticket.mjs";

function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`start: ${name}=${raw} is not a valid port`);
    process.exit(2);
  }
  return port;
}

const port = portFromEnv("PORT", 8787);
const mockPort = portFromEnv("MOCK_FINCH_PORT", 8788);
const receiverPort = portFromEnv("APP_RECEIVER_PORT", 8789);
if (new Set([port, mockPort, receiverPort]).size !== 3) {
  console.error("start: PORT, MOCK_FINCH_PORT and APP_RECEIVER_PORT must differ");
  process.exit(2);
}

const secrets = prepareDevVars();
const rel = (f) => relative(REPO_ROOT, f);
if (secrets.created) console.log(`start: generated development secrets in ${rel(secrets.file)} (mode 0600)`);
else if (secrets.added.length) console.log(`start: added ${secrets.added.join(", ")} to ${rel(secrets.file)}`);
console.log(`start: wrote ${rel(secrets.mockFile)} from ${rel(secrets.file)}`);

let servers;
let receiver;
let stopping = false;
const children = [];

async function shutdown(code, reason) {
  if (stopping) return;
  stopping = true;
  if (reason) console.error(`start: ${reason}`);
  await Promise.all([...children.map((c) => stopGroup(c)), receiver?.close()]);
  process.exit(code);
}

process.on("SIGINT", () => void shutdown(0, "stopping (SIGINT)"));
process.on("SIGTERM", () => void shutdown(0, "stopping (SIGTERM)"));
process.on("SIGHUP", () => void shutdown(0, "stopping (SIGHUP)"));
// Last resort if this process dies unexpectedly: no workerd may keep the ports.
process.on("exit", () => children.forEach(killGroupNow));
// `npm start` does not forward SIGTERM to us (e.g. `timeout 60 npm start`): when npm goes
// away we are re-parented, and stop too instead of leaving workerd on the ports.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown(0, "stopping (parent process exited)");
}, 500).unref();

console.log(
  `start: starting mock Finch on http://127.0.0.1:${mockPort} and the Worker on http://127.0.0.1:${port} ...`,
);
try {
  receiver = await startAppReceiver({ port: receiverPort, secret: secrets.vars.APP_WEBHOOK_SECRET });
  servers = await startDevServers({
    port,
    mockPort,
    extraWorkerVars: { APP_WEBHOOK_URL: receiver.url },
    onSpawn: (child) => children.push(child),
  });
} catch (error) {
  if (stopping) await new Promise(() => {}); // interrupted while starting: shutdown() exits
  await shutdown(1, error instanceof Error ? error.message : String(error));
}
if (stopping) await new Promise(() => {});

for (const child of children) {
  child.exitInfo.then(({ code, signal, error }) => {
    const how = error ? error.message : signal ? `signal ${signal}` : `code ${code}`;
    void shutdown(1, `${child.label} exited on its own (${how}); stopping the other one`);
  });
}

const ticket = mintTicket(
  secrets.vars.TICKET_SECRET,
  { sub: "acme", name: "Acme Inc" },
  { ttlSeconds: MAX_TICKET_TTL_SECONDS },
);
const link = connectUrl(servers.base, ticket);
const line = "=".repeat(72);
console.log(`
${line}
  finch-connect-edge is running (offline, against mock Finch)

  Worker:      ${servers.base}
  Mock Finch:  ${servers.mockBase}   (approve/deny page, /_mock/* helpers)
  App events:  ${receiver.url}   (verified and printed here as [app-events])

  Open this link to connect customer "acme" (Acme Inc):
  ${link}

  Tickets expire after 15 minutes. For a fresh link:
    npm run ticket -- --customer-id X --customer-name Y
  Stop with Ctrl-C.
${line}
`);
