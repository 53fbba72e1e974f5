import { utf8 } from "../lib/encoding";

/**
 * HMAC-SHA256 keys imported once per isolate. Importing a key costs more than using it,
 * and the callback and webhook paths sign or verify on every request. The cache is keyed
 * by the configured secret text, so a changed secret gets a fresh key.
 */
const cache = new Map<string, Promise<CryptoKey>>();

/** `secret` identifies the key; `raw` overrides its bytes (e.g. a base64-decoded secret). */
export function hmacKey(secret: string, raw?: Uint8Array): Promise<CryptoKey> {
  const id = raw ? `raw:${secret}` : `utf8:${secret}`;
  let key = cache.get(id);
  if (!key) {
    key = crypto.subtle.importKey("raw", raw ?? utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    cache.set(id, key);
  }
  return key;
}

export async function hmacSign(key: CryptoKey, data: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(data)));
}

/** WebCrypto's verify compares in constant time. */
export function hmacVerify(key: CryptoKey, signature: BufferSource, data: string): Promise<boolean> {
  return crypto.subtle.verify("HMAC", key, signature, utf8(data));
}
