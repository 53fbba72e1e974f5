import { expect } from "vitest";
import { knownTokens, kvNames } from "./fixtures";
import { TEST_SECRETS } from "./secrets";

/** Ask for the JSON error variant, as an app's front end would. */
export const JSON_ACCEPT = { accept: "application/json" } as const;

/** Headers every /connect and /callback response must carry, success or failure. */
export function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
}

/** A JSON error answer: status, stable code, and the usual headers. Returns the body. */
export async function expectError(res: Response, status: number, code: string) {
  const text = await res.clone().text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = JSON.parse(text);
  expect(body.error.code).toBe(code);
  expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
  expectSecurityHeaders(res);
  return body as { error: { code: string; message: string; request_id: string } };
}

/** Storage untouched: the namespace is exactly as it was (empty by default). */
export async function expectStored(names: string[] = []): Promise<void> {
  expect((await kvNames()).sort()).toEqual([...names].sort());
}

const decodeB64Url = (s: string): string => {
  try {
    return atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  } catch {
    return "";
  }
};

/** Every configured secret: none may ever leave in a response (tokens are added at check time). */
export function knownSecrets(): string[] {
  return [
    TEST_SECRETS.FINCH_CLIENT_SECRET,
    TEST_SECRETS.TICKET_SECRET,
    btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`),
    ...TEST_SECRETS.API_KEYS.split(","),
    ...TEST_SECRETS.WEBHOOK_SECRETS.split(","),
    ...TEST_SECRETS.ENCRYPTION_KEYS.split(",").map((entry) => entry.slice(entry.indexOf(":") + 1)),
  ];
}

/**
 * The one secret scanner for responses. Nothing secret leaves (body, any header, cookies):
 * no configured secret, no access token seeded here or issued by the mock Finch, none of
 * `extra` (e.g. the code), unless `allowed` (the token endpoint's own token). Cookie values
 * are also checked after base64url-decoding their payload. Failures never print the secret.
 */
export async function expectNoSecrets(
  res: Response,
  extra: readonly (string | undefined)[] = [],
  allowed: readonly string[] = [],
): Promise<void> {
  const cookies = res.headers.getSetCookie();
  const decoded = cookies.map((line) => decodeB64Url((line.split(";")[0] ?? "").split("=")[1]?.split(".")[0] ?? ""));
  const headers = [...res.headers].map(([name, value]) => `${name}: ${value}`);
  const surfaces = [await res.clone().text(), ...headers, ...decoded].join("\n");
  for (const secret of [...knownSecrets(), ...knownTokens(), ...extra]) {
    if (secret && !allowed.includes(secret) && surfaces.includes(secret)) {
      expect.fail(`response leaks a secret (${secret.length} chars)`);
    }
  }
}

/**
 * Follows a cursor-paged /api answer to its end: `request(cursor)` asks for a page (no cursor
 * first), `cursorOf` reads the next one. Every page must be a 200 without secrets; a
 * runaway pager fails after 20 pages. Returns the parsed pages in order.
 */
export async function allPagesOf<T>(
  request: (cursor: string | undefined) => Promise<Response>,
  cursorOf: (page: T) => string | null,
): Promise<T[]> {
  const pages: T[] = [];
  let cursor: string | null = null;
  do {
    const res = await request(cursor ?? undefined);
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res);
    const page = await res.json<T>();
    pages.push(page);
    cursor = cursorOf(page);
    expect(pages.length).toBeLessThan(20);
  } while (cursor);
  return pages;
}
