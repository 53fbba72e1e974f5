import { utf8 } from "../lib/encoding";

const keys = new Map<string, Promise<CryptoKey>>();

/**
 * The HMAC key that signs the flow cookies, derived from TICKET_SECRET with HKDF under its
 * own label, so a cookie signature can never stand in for a ticket signature (the ticket
 * key is TICKET_SECRET itself). Derived once per isolate and secret.
 */
export function cookieKey(ticketSecret: string): Promise<CryptoKey> {
  let key = keys.get(ticketSecret);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", utf8(ticketSecret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8("finch-connect-edge/flow-cookie/v1") },
        base,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign", "verify"],
      );
    })();
    keys.set(ticketSecret, key);
  }
  return key;
}
