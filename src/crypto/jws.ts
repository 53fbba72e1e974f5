import { fromBase64Url, fromUtf8 } from "../lib/encoding";
import { hmacVerify } from "./hmac";

/**
 * Verifies a compact HS256 JWS and returns its payload, unvalidated (callers parse it).
 * Deliberately narrow: the header must say HS256 (so `none`, RS256 and friends are refused
 * before any crypto), and the signature is checked by WebCrypto in constant time. Claims
 * such as exp are the caller's business, after the signature holds.
 */
export type JwsResult =
  | { ok: true; payload: unknown }
  | { ok: false; reason: "malformed" | "unsupported_alg" | "bad_signature" };

function decodeJson(part: string): unknown {
  const bytes = fromBase64Url(part);
  if (!bytes) return undefined;
  try {
    return JSON.parse(fromUtf8(bytes));
  } catch {
    return undefined;
  }
}

export async function verifyHs256(token: string, key: CryptoKey): Promise<JwsResult> {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: "malformed" };
  const [head = "", body = "", sig = ""] = parts;
  const header = decodeJson(head);
  if (typeof header !== "object" || header === null || Array.isArray(header)) return { ok: false, reason: "malformed" };
  const { alg, typ, crit } = header as { alg?: unknown; typ?: unknown; crit?: unknown };
  if (alg !== "HS256" || crit !== undefined) return { ok: false, reason: "unsupported_alg" };
  if (typ !== undefined && (typeof typ !== "string" || typ.toUpperCase() !== "JWT")) {
    return { ok: false, reason: "malformed" };
  }
  const signature = fromBase64Url(sig);
  if (!signature || signature.byteLength !== 32) return { ok: false, reason: "bad_signature" };
  if (!(await hmacVerify(key, signature, `${head}.${body}`))) return { ok: false, reason: "bad_signature" };
  const payload = decodeJson(body);
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { ok: false, reason: "malformed" };
  }
  return { ok: true, payload };
}
