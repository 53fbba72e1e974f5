import { exports } from "cloudflare:workers";
import { sign } from "hono/jwt";
import { markSecret } from "./logs";
import { TEST_SECRETS, WORKER_ORIGIN } from "./secrets";

/** Calls the Worker through its real fetch handler, as the runtime would. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(new URL(path, WORKER_ORIGIN), { redirect: "manual", ...init }));
}

export const [API_KEY, OLD_API_KEY] = TEST_SECRETS.API_KEYS.split(",") as [string, string];

/** Calls /api with the current API key (or the given Authorization value). */
export function api(path: string, init: RequestInit = {}, authorization = `Bearer ${API_KEY}`): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", authorization);
  return call(path, { ...init, headers });
}

/** A minimal cookie jar: enough to carry the flow cookies between requests. */
export class Jar {
  private readonly cookies = new Map<string, string>();

  take(res: Response): this {
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  get size(): number {
    return this.cookies.size;
  }
}

export interface TicketClaims {
  sub?: string;
  name?: string;
  exp?: number;
  iat?: number;
  email?: string;
  products?: string[];
  return_to?: string;
  connection_id?: string;
  jti?: string;
  [extra: string]: unknown;
}

/** Mints a ticket the way an app's back end would (HS256 with TICKET_SECRET). */
export function mintTicket(claims: TicketClaims = {}, secret: string = TEST_SECRETS.TICKET_SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  // Every ticket gets its own id unless the test names one (tickets are one-time links).
  const payload = { sub: "acme", name: "Acme Inc", iat: now, exp: now + 600, jti: crypto.randomUUID(), ...claims };
  for (const key of Object.keys(payload))
    if ((payload as Record<string, unknown>)[key] === undefined) delete (payload as Record<string, unknown>)[key];
  return sign(payload as Parameters<typeof sign>[0], secret, "HS256").then((ticket) => {
    markSecret("a ticket", ticket);
    markSecret("a ticket signature", ticket.split(".")[2]);
    return ticket;
  });
}
