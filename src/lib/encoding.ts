/** Byte/text helpers shared by crypto, cookies and storage. No secrets are handled here. */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const lenientDecoder = new TextDecoder();

export const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** Strict UTF-8 decoding: invalid bytes throw instead of turning into U+FFFD. */
export const fromUtf8 = (bytes: BufferSource): string => decoder.decode(bytes);

/** Lenient UTF-8 decoding, as `new TextDecoder().decode`: invalid bytes become U+FFFD. */
export const fromUtf8Lenient = (bytes: BufferSource): string => lenientDecoder.decode(bytes);

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return btoa(binary);
}

export const toBase64Url = (bytes: Uint8Array): string =>
  toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes standard base64; undefined for anything that is not canonical base64. Canonical
 * includes the unused low bits of the last character being zero: atob ignores them, so
 * without the re-encoding check several strings (e.g. a signature ending in "A" or "B")
 * would decode to the same bytes, and a signed value would have more than one valid form.
 */
export function fromBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return toBase64(out) === text ? out : undefined;
}

/** Decodes unpadded base64url; undefined for anything but the one canonical encoding. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return fromBase64(padded);
}

export const randomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

export const randomId = (bytes = 16): string => toBase64Url(randomBytes(bytes));

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of the UTF-8 text, unpadded base64url (a ticket's `bind` claim). */
export async function sha256Base64Url(text: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text))));
}
