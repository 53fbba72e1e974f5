// The app's side of lifecycle events, for `npm start`: a small HTTP server on 127.0.0.1 that
// verifies each delivery with the `standardwebhooks` library (as a real receiver would) and
// prints the event. It answers 204 when the signature verifies and 401 when it does not, so the
// Worker's retry and dead-letter behaviour can be watched too.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const MAX_BODY = 64 * 1024;
export const RECEIVER_PATH = "/app-events";

function readBody(req) {
  return new Promise((done, fail) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        fail(new Error("body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
    req.on("error", fail);
  });
}

/** One readable line per event; the whole event follows as compact JSON. */
export function describeEvent(event) {
  const head = `${event.type} ${event.id} connection=${event.connection_id} customer=${event.customer_id} generation=${event.generation} status=${event.connection?.status}`;
  return `${head}\n    ${JSON.stringify(event.data)}`;
}

/**
 * Starts the receiver. `secret` is APP_WEBHOOK_SECRET (whsec_...). Resolves to
 * { url, close() } once listening.
 */
export function startAppReceiver({ port, host = "127.0.0.1", secret, log = (line) => console.log(line) }) {
  const verifier = new Webhook(secret);
  const server = createServer(async (req, res) => {
    if (req.method !== "POST" || req.url !== RECEIVER_PATH) {
      res.writeHead(404).end();
      return;
    }
    let body;
    try {
      body = await readBody(req);
    } catch {
      res.writeHead(413).end();
      return;
    }
    try {
      const event = verifier.verify(body, req.headers);
      log(`[app-events] received ${describeEvent(event)}`);
      res.writeHead(204).end();
    } catch (error) {
      log(`[app-events] refused a delivery: ${error instanceof Error ? error.message : String(error)}`);
      res.writeHead(401).end();
    }
  });
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen({ port, host, exclusive: true }, () => {
      done({
        url: `http://${host}:${port}${RECEIVER_PATH}`,
        close: () => new Promise((closed) => server.close(() => closed())),
      });
    });
  });
}
