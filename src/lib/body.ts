import { fromUtf8Lenient } from "./encoding";

/**
 * Reads a body as text, at most `limit` bytes of it, or undefined when it is larger: refused
 * by its Content-Length first (nothing read), else counted while streaming, so a chunked or
 * lying body is cut off at the limit. Used for Finch's replies, webhook deliveries and the
 * proxy's look at a 401 body; each caller decides what "too large" means for it.
 */
export async function readBounded(res: Response, limit: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return fromUtf8Lenient(all);
}
