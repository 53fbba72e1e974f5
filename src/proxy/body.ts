import { AppError } from "../errors";
import { utf8 } from "../lib/encoding";

const PROXY_BODY_LIMIT = 1024 * 1024;

/** The part of a proxied call (ProxyCall) that carries its body. */
export interface BodyOf {
  method: string;
  body: ReadableStream<Uint8Array> | string | null;
  bodyLength?: number | undefined;
}

export type Body = ReadableStream<Uint8Array> | ArrayBuffer | string | null;

/**
 * The request body, refused when it is (or turns out to be) larger than the limit. Bodies
 * that can be sent twice (none, text, or a declared length, read into memory) come back
 * as such; only a stream of unknown length stays a stream.
 */
export async function boundedBody(call: BodyOf, tripped: { over: boolean }): Promise<Body> {
  if (call.method === "GET" || call.method === "HEAD" || call.body === null) return null;
  if (typeof call.body === "string") {
    if (utf8(call.body).byteLength > PROXY_BODY_LIMIT) throw tooLarge();
    return call.body;
  }
  if (call.bodyLength !== undefined) {
    if (call.bodyLength > PROXY_BODY_LIMIT) throw tooLarge();
    // The runtime holds a declared length to its word, so this read is bounded.
    try {
      return await new Response(call.body).arrayBuffer();
    } catch {
      throw new AppError("body_invalid", "proxy body could not be read");
    }
  }
  let size = 0;
  return call.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > PROXY_BODY_LIMIT) {
          tripped.over = true;
          controller.error(new Error("body over limit"));
        } else controller.enqueue(chunk);
      },
    }),
  );
}

export const tooLarge = () => new AppError("body_too_large", `proxy body over ${PROXY_BODY_LIMIT} bytes`);

/** A body that can be sent again (with a newer token after a 401). */
export const replayable = (body: Body) => !(body instanceof ReadableStream);
