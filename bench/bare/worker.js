// THE FLOOR. NEVER SHIP THIS, NEVER COPY FROM IT.
//
// The reference Worker for `npm run bench`: for each scenario it does only the work that no
// implementation can avoid (the upstream fetches, the KV operations, the HMAC of a webhook)
// and nothing else: no validation, no state or CSRF check, no encryption, no API key, no
// timeouts, no logging. It stores tokens in PLAINTEXT. It exists so the bench can show what
// the production Worker's safety costs on top of the least the runtime must do.
//
// KV layout: conn:<connection_id> = access token, metadata { c: customer_id, s: status }.
// The listing scans the conn: prefix (no per-customer index, so the callback stays at one
// put); that is only a floor while the namespace is small, which is why the bench runs the
// listing scenario before the callback scenario fills KV.

const FINCH_VERSION = "2020-09-17";
const encoder = new TextEncoder();
let webhookKey;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/callback") return callback(url, env);
    if (path === "/connect") return connect(url, env);
    if (path === "/webhooks/finch") return webhook(request, env);
    if (path === "/api/connections") return listing(url, env);
    const proxied = /^\/api\/connections\/([^/]+)\/finch(\/.*)$/.exec(path);
    if (proxied) return proxy(request, env, proxied[1], proxied[2] + url.search);
    return new Response("not found", { status: 404 });
  },
};

// Connect: one session call, redirect to Finch.
async function connect(url, env) {
  const res = await fetch(`${env.FINCH_API_BASE_URL}/connect/sessions`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${btoa(`${env.FINCH_CLIENT_ID}:${env.FINCH_CLIENT_SECRET}`)}`,
      "Content-Type": "application/json",
      "Finch-API-Version": FINCH_VERSION,
    },
    body: JSON.stringify({
      customer_id: url.searchParams.get("customer_id"),
      customer_name: url.searchParams.get("customer_name"),
      products: ["company", "directory"],
      redirect_uri: env.FINCH_REDIRECT_URI,
    }),
  });
  const session = await res.json();
  return new Response(null, { status: 302, headers: { Location: session.connect_url } });
}

// Callback: one exchange, one KV put of the plaintext token, redirect.
async function callback(url, env) {
  const res = await fetch(`${env.FINCH_API_BASE_URL}/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Finch-API-Version": FINCH_VERSION },
    body: JSON.stringify({
      client_id: env.FINCH_CLIENT_ID,
      client_secret: env.FINCH_CLIENT_SECRET,
      code: url.searchParams.get("code"),
      redirect_uri: env.FINCH_REDIRECT_URI,
    }),
  });
  const token = await res.json();
  await env.CONNECTIONS.put(`conn:${token.connection_id}`, token.access_token, {
    metadata: { c: token.customer_id, s: "connected" },
  });
  return new Response(null, {
    status: 303,
    headers: { Location: `${env.SUCCESS_URL}?connection_id=${token.connection_id}` },
  });
}

// Proxy: one KV get of the token, one upstream call, the answer streamed back as it comes.
async function proxy(request, env, connectionId, rest) {
  const token = await env.CONNECTIONS.get(`conn:${connectionId}`);
  const upstream = await fetch(`${env.FINCH_API_BASE_URL}${rest}`, {
    method: request.method,
    headers: { Authorization: `Bearer ${token}`, "Finch-API-Version": FINCH_VERSION },
    body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
  });
  return new Response(upstream.body, upstream);
}

// Webhook: HMAC-SHA256 verify with WebCrypto (key imported once), one KV get, one KV put.
async function webhook(request, env) {
  const body = await request.text();
  const id = request.headers.get("finch-event-id");
  const ts = request.headers.get("finch-timestamp");
  const signature = (request.headers.get("finch-signature") ?? "").split(" ")[0].slice(3);
  webhookKey ??= crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(env.WEBHOOK_SECRETS.split(",")[0]), (ch) => ch.charCodeAt(0)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const mac = Uint8Array.from(atob(signature), (ch) => ch.charCodeAt(0));
  const ok = await crypto.subtle.verify("HMAC", await webhookKey, mac, encoder.encode(`${id}.${ts}.${body}`));
  if (!ok) return new Response(null, { status: 401 });
  const event = JSON.parse(body);
  const key = `conn:${event.connection_id}`;
  const { value, metadata } = await env.CONNECTIONS.getWithMetadata(key);
  await env.CONNECTIONS.put(key, value, { metadata: { ...metadata, s: event.data?.status } });
  return new Response(null, { status: 204 });
}

// Listing: one KV list, then one get per connection of the customer.
async function listing(url, env) {
  const customer = url.searchParams.get("customer_id");
  const { keys } = await env.CONNECTIONS.list({ prefix: "conn:" });
  const mine = keys.filter((k) => k.metadata?.c === customer);
  const connections = await Promise.all(
    mine.map(async (k) => {
      await env.CONNECTIONS.get(k.name);
      return { connection_id: k.name.slice(5), status: k.metadata.s };
    }),
  );
  return Response.json({ connections });
}
