import { expect } from "vitest";
import { finch } from "./finch";
import { kvNames } from "./kv";
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

/**
 * Nothing secret leaves in a response: not the client secret, the ticket secret, any
 * access token the mock Finch ever issued, nor the extra values given (e.g. the code).
 * Cookie values are also checked after base64url-decoding their payload.
 */
export async function expectNoSecrets(res: Response, extra: string[] = []): Promise<void> {
  const cookies = res.headers.getSetCookie();
  const decoded = cookies.map((line) => decodeB64Url((line.split(";")[0] ?? "").split("=")[1]?.split(".")[0] ?? ""));
  const surfaces = [await res.clone().text(), res.headers.get("location") ?? "", ...cookies, ...decoded].join("\n");
  const secrets = [
    TEST_SECRETS.FINCH_CLIENT_SECRET,
    TEST_SECRETS.TICKET_SECRET,
    ...finch().mock.tokens.keys(),
    ...extra.filter(Boolean),
  ];
  for (const secret of secrets) expect(surfaces.includes(secret), `response leaks a secret`).toBe(false);
}
