import { ConfigError } from "../errors";
import { fromBase64, fromBase64Url, fromUtf8Lenient, randomBytes, toBase64Url, utf8 } from "../lib/encoding";
import { BoundedMemo } from "../lib/memo";

/**
 * AES-256-GCM envelope for tokens at rest.
 *
 * The ring comes from the ENCRYPTION_KEYS secret: comma-separated `kid:base64key` entries,
 * each key exactly 32 bytes. The FIRST entry is the active key and encrypts every new
 * write; every entry can decrypt. To rotate: prepend a new key, run the re-encryption job,
 * then drop the old entry.
 *
 * Each write uses a fresh random 96-bit IV. The caller passes additional authenticated
 * data (the KV key), so a ciphertext copied under another key fails to decrypt.
 */
export interface Sealed {
  kid: string;
  iv: string;
  ct: string;
}

export interface KeyRing {
  readonly activeKid: string;
  readonly kids: readonly string[];
  seal(plaintext: string, aad: string): Promise<Sealed>;
  /** Throws KeyNotFoundError / DecryptError; callers map those to a storage error. */
  open(sealed: Sealed, aad: string): Promise<string>;
}

export class KeyNotFoundError extends Error {
  constructor(readonly kid: string) {
    super(`encryption key "${kid}" is not configured`);
  }
}
export class DecryptError extends Error {}

const KID = /^[A-Za-z0-9_.-]{1,32}$/;
/** Sealed values a ring remembers having opened (docs/security.md, "Tokens in memory"). */
export const OPENED_LIMIT = 128;
const SETTING = "ENCRYPTION_KEYS";

function parseKeyRing(value: string | undefined): Map<string, Uint8Array> {
  if (!value || !value.trim()) throw new ConfigError(SETTING, "is missing");
  const keys = new Map<string, Uint8Array>();
  for (const [index, entry] of value.split(",").entries()) {
    const trimmed = entry.trim();
    const colon = trimmed.indexOf(":");
    const kid = colon > 0 ? trimmed.slice(0, colon) : "";
    if (!KID.test(kid)) throw new ConfigError(SETTING, `entry ${index + 1} needs a key id (kid:base64key)`);
    const encoded = trimmed.slice(colon + 1);
    const bytes = fromBase64(encoded) ?? fromBase64Url(encoded);
    if (!bytes || bytes.byteLength !== 32) {
      throw new ConfigError(SETTING, `key "${kid}" must be 32 bytes, base64-encoded`);
    }
    if (keys.has(kid)) throw new ConfigError(SETTING, `key id "${kid}" appears twice`);
    keys.set(kid, bytes);
  }
  return keys;
}

export function createKeyRing(value: string | undefined): KeyRing {
  const raw = parseKeyRing(value);
  const kids = [...raw.keys()];
  const activeKid = kids[0] as string;
  const imported = new Map<string, Promise<CryptoKey>>();
  const key = (kid: string): Promise<CryptoKey> => {
    let k = imported.get(kid);
    if (!k) {
      const bytes = raw.get(kid);
      if (!bytes) throw new KeyNotFoundError(kid);
      k = crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
      imported.set(kid, k);
    }
    return k;
  };

  // What this ring already opened, by the exact sealed value and its binding: AES-GCM under the
  // same key always opens those to the same text, so a busy connection's token is decrypted once
  // per isolate, not per proxied call. Per ring (its keys never change; another ENCRYPTION_KEYS
  // is another ring), successes only (a failure throws every time), bounded (least recently
  // used first out). Why holding these plaintexts is no new exposure: docs/security.md.
  const opened = new BoundedMemo<string, string>(OPENED_LIMIT);
  const openSealed = async (sealed: Sealed, aad: string): Promise<string> => {
    const iv = fromBase64Url(sealed.iv);
    const ct = fromBase64Url(sealed.ct);
    if (!iv || iv.byteLength !== 12 || !ct) throw new DecryptError("sealed value is malformed");
    const k = await key(sealed.kid);
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: utf8(aad) }, k, ct);
      return fromUtf8Lenient(plain);
    } catch {
      throw new DecryptError("authentication failed");
    }
  };

  return {
    activeKid,
    kids,
    async seal(plaintext, aad) {
      const iv = randomBytes(12);
      const ct = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: utf8(aad) },
        await key(activeKid),
        utf8(plaintext),
      );
      return { kid: activeKid, iv: toBase64Url(iv), ct: toBase64Url(new Uint8Array(ct)) };
    },
    async open(sealed, aad) {
      const memoKey = JSON.stringify([sealed.kid, sealed.iv, sealed.ct, aad]);
      const known = opened.get(memoKey);
      if (known !== undefined) return known;
      const plain = await openSealed(sealed, aad);
      opened.set(memoKey, plain);
      return plain;
    },
  };
}
