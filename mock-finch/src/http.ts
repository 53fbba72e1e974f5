// Small Web-standard helpers shared by the mock: Finch-shaped JSON/errors, ids, auth headers.

export interface FinchErrorBody {
  code: number;
  name: string;
  finch_code?: string;
  message: string;
}

/** Thrown inside handlers; turned into a Finch-shaped error response by the router. */
export class FinchError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
    readonly finchCode?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  body(): FinchErrorBody {
    const body: FinchErrorBody = { code: this.status, name: this.errorName, message: this.message };
    if (this.finchCode) body.finch_code = this.finchCode;
    return body;
  }
}

export function badRequest(message: string): FinchError {
  return new FinchError(400, "invalid_request", message);
}

export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export function html(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    },
  });
}

export function redirect(location: string): Response {
  return new Response(null, { status: 302, headers: { location, "cache-control": "no-store" } });
}

/** Copy of `response` with the Finch-Request-Id header every Finch answer carries. */
export function withRequestId(response: Response, requestId: string): Response {
  const out = new Response(response.body, response);
  out.headers.set("Finch-Request-Id", requestId);
  return out;
}

export function uuid(): string {
  return crypto.randomUUID();
}

export function base64Encode(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function base64Decode(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function randomBase64Url(byteLength: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(byteLength));
  return base64Encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomHex(byteLength: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(byteLength));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parses `Authorization: Basic base64(id:secret)`; null when absent or malformed. */
export function basicCredentials(request: Request): { id: string; secret: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  if (!match?.[1]) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(base64Decode(match[1]));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

export function bearerToken(request: Request): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1] ?? null;
}

/** Reads a JSON object body or throws a 400 invalid_request. */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await request.text());
  } catch {
    throw badRequest("Request body must be valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw badRequest("Request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** Equal-length-independent string comparison (the mock has no real secrets, but behave). */
export function safeEqual(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
