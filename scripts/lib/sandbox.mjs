// `npm run sandbox`: asks the Worker for a Finch sandbox connection (POST /api/sandbox/connections)
// and prints its id. Argument and URL rules live here, apart from the process, so they can be tested.
import { parseArgs } from "node:util";

export const DEFAULT_URL = "http://127.0.0.1:8787";
/** Plain http only to this machine: the API key must not cross a network unencrypted. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const PRODUCT = /^[a-z][a-z_]{0,39}$/;
/** The Worker's connection ids (src/finch/schemas.ts): safe to print for a script to capture. */
const CONNECTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MAX_EMPLOYEE_SIZE = 1_000_000;

export const HELP = `Create a Finch sandbox connection through the Worker and print its connection id.

Usage:
  FINCH_EDGE_API_KEY=<an entry of API_KEYS> npm run sandbox -- --customer-id <id> --customer-name <name> --provider <id> [options]

Required:
  --customer-id <id>        your customer's id, as a ticket's "sub" would carry it
  --customer-name <name>    your customer's display name
  --provider <id>           a Finch sandbox provider id, e.g. gusto (finch_multi_entity: two entities)

Options:
  --products <list>         comma-separated Finch products, e.g. company,directory
                            (default: Finch's organization products)
  --employee-size <n>       employees in the sandbox company (Finch's default: 20)
  --url <url>               the Worker's origin, default ${DEFAULT_URL} (npm start);
                            http only for 127.0.0.1, localhost or [::1]
  -h, --help                show this help

Calls POST /api/sandbox/connections, which answers 404 unless the Worker has FINCH_SANDBOX set
(finch or provider) and Finch sandbox credentials. The API key is read from FINCH_EDGE_API_KEY
only (never a flag: flags show in ps and shell history). Redirects are never followed.

Output: the connection id alone on stdout (for scripts: ID=$(npm run -s sandbox -- ...));
notes and errors on stderr.

Exit codes: 0 created, 1 the Worker refused or could not be reached (its error code is
printed), 2 bad arguments or no API key.`;

export class UsageError extends Error {}

/** The Worker's origin from --url: absolute http(s), no credentials, path, query or fragment. */
export function workerOrigin(text) {
  if (!URL.canParse(text)) throw new UsageError("--url must be an absolute URL");
  const url = new URL(text);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UsageError("--url must be http or https");
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new UsageError("--url must be https (http only for 127.0.0.1, localhost or [::1])");
  }
  if (url.username || url.password) throw new UsageError("--url must not carry credentials");
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new UsageError("--url must be the Worker's origin (no path, query or fragment)");
  }
  return url.origin;
}

/**
 * `argv` (without node and the script) and the environment -> { help: true } or the request to
 * send: { origin, apiKey, body }. Throws UsageError naming the flag at fault, never its value.
 */
export function parseSandboxArgs(argv, env = process.env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "customer-id": { type: "string" },
        "customer-name": { type: "string" },
        provider: { type: "string" },
        products: { type: "string" },
        "employee-size": { type: "string" },
        url: { type: "string", default: DEFAULT_URL },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    throw new UsageError(e.message);
  }
  if (values.help) return { help: true };
  for (const name of ["customer-id", "customer-name", "provider"]) {
    if (!values[name]?.trim()) throw new UsageError(`--${name} is required`);
  }
  const body = {
    customer_id: values["customer-id"],
    customer_name: values["customer-name"],
    provider_id: values.provider,
  };
  if (values.products !== undefined) {
    const products = values.products
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (products.length === 0 || !products.every((p) => PRODUCT.test(p))) {
      throw new UsageError("--products must be a comma-separated list of Finch product names");
    }
    body.products = products;
  }
  if (values["employee-size"] !== undefined) {
    const size = values["employee-size"];
    if (!/^[0-9]{1,7}$/.test(size) || Number(size) < 1 || Number(size) > MAX_EMPLOYEE_SIZE) {
      throw new UsageError(`--employee-size must be a whole number from 1 to ${MAX_EMPLOYEE_SIZE}`);
    }
    body.employee_size = Number(size);
  }
  const origin = workerOrigin(values.url);
  const apiKey = env.FINCH_EDGE_API_KEY;
  if (!apiKey) throw new UsageError("set FINCH_EDGE_API_KEY to one of the Worker's API_KEYS");
  return { origin, apiKey, body };
}

/** The Worker refused or could not be reached; `code` is its error code (or a local one). */
export class SandboxError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** POSTs the request; resolves with the Worker's answer (connection_id checked), or rejects with a SandboxError. */
export async function requestSandboxConnection({ origin, apiKey, body }, fetchImpl = fetch) {
  let res;
  try {
    res = await fetchImpl(new URL("/api/sandbox/connections", origin), {
      method: "POST",
      redirect: "manual",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const why = e?.name === "TimeoutError" ? "no answer within 30 s" : (e?.cause?.code ?? e?.message ?? String(e));
    throw new SandboxError("unreachable", `could not reach ${origin} (${why})`);
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    const location = res.headers.get("location");
    const host = location && URL.canParse(location, origin) ? new URL(location, origin).host : "an unknown host";
    throw new SandboxError(
      "redirected",
      `the Worker answered ${res.status}, a redirect to ${host}; redirects are not followed`,
    );
  }
  const text = await res.text();
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (res.status !== 201 && res.status !== 200) {
    const error = answer?.error;
    const code = typeof error?.code === "string" ? error.code : `http_${res.status}`;
    const message = typeof error?.message === "string" ? error.message : `the Worker answered ${res.status}`;
    throw new SandboxError(code, `${message} (HTTP ${res.status})`);
  }
  if (typeof answer?.connection_id !== "string" || !CONNECTION_ID.test(answer.connection_id)) {
    throw new SandboxError("bad_answer", `the Worker answered ${res.status} without a connection id`);
  }
  return answer;
}
