import * as v from "valibot";
import { AppError } from "../errors";
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from "./encoding";

/**
 * Opaque pagination cursors: base64url JSON that callers hand back unchanged. Parsed from
 * unknown like any other input; anything that does not decode to `schema` is param_invalid.
 */
export const encodeCursor = (state: unknown): string => toBase64Url(utf8(JSON.stringify(state)));

export function decodeCursor<S extends v.GenericSchema>(schema: S, cursor: string): v.InferOutput<S> {
  let json: unknown;
  try {
    const bytes = fromBase64Url(cursor);
    json = bytes ? JSON.parse(fromUtf8(bytes)) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) throw new AppError("param_invalid", "cursor malformed");
  return parsed.output;
}
