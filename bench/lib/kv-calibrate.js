// Calibration worker for `npm run bench` (never shipped): one KV operation per request, with
// a record-sized value and listing-sized metadata. In local workerd the KV simulator runs in
// the same process as the Worker, so the bench measures what one operation costs there
// (CPU of /<op> minus /noop) and can show each subject's CPU with and without its KV share.
const VALUE = JSON.stringify({ token: { kid: "k1", iv: "x".repeat(16), ct: "y".repeat(80) }, pad: "z".repeat(900) });
const METADATA = {
  cid: "bench-callback",
  cn: "Customer bench-callback",
  pid: "gusto",
  st: "connected",
  ca: "2026-01-01T00:00:00.000Z",
  ua: "2026-01-01T00:00:00.000Z",
};
let n = 0;

const OPS = {
  noop: async () => {},
  seed: (kv) => kv.put("fixed", VALUE, { metadata: METADATA }),
  // A fresh key, like the callback's record and index writes.
  put: (kv) => kv.put(`cal:${n++}:${Math.random()}`, VALUE, { metadata: METADATA }),
  get: (kv) => kv.get("fixed", "text"),
  list: (kv) => kv.list({ prefix: "cal:", limit: 5 }),
};

export default {
  async fetch(request, env) {
    const op = OPS[new URL(request.url).pathname.slice(1)];
    if (!op) return new Response("no such op", { status: 404 });
    await op(env.CONNECTIONS);
    return new Response(null, { status: 204 });
  },
};
