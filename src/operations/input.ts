import * as v from "valibot";
import { ImportSchema } from "../domain/import";
import { AppError } from "../errors";
import { REDELIVER_MAX } from "../events/dead-letters";
import { EVENT_ID } from "../events/model";
import { ConnectionIdSchema } from "../finch/schemas";

/**
 * How every operation reads its input: one valibot schema over `{ path?, query?, body? }`,
 * the same object whether it came from an HTTP request (src/routes/) or an RPC call
 * (src/rpc.ts). The three parts mirror HTTP because the OpenAPI description is generated
 * from these schemas (scripts/openapi.ts); an RPC adapter fills them from its arguments.
 * A failure under `body` is `body_invalid` (and names the field to the caller); anything
 * else is `param_invalid`. Field names only, never the value.
 */
export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const parsed = v.safeParse(schema, input);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const [where, ...rest] = ((issue && v.getDotPath(issue)) ?? "").split(".");
  const field = rest.join(".") || "(root)";
  if (where === "body")
    throw new AppError("body_invalid", `body field ${field} invalid`, { expose: `Field: ${field}.` });
  throw new AppError("param_invalid", `${[where || "input", ...rest].join(".")} invalid`);
}

/**
 * A management POST/DELETE body: absent, or a JSON object. Nothing in it is used today, but
 * garbage is refused rather than ignored so a caller's bug surfaces early.
 */
const EmptyBodySchema = v.optional(v.looseObject({}));

/** An opaque paging cursor as we hand it out (base64url JSON, see src/lib/cursor.ts). */
const cursorSchema = (max: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));

/** A page size: an integer in 1..max. (The HTTP adapter turns an all-digits query value into a number.) */
const limitSchema = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max));

export const ByIdInput = v.object({
  path: v.object({ connection_id: ConnectionIdSchema }),
  body: EmptyBodySchema,
});

/** Printable text: no control characters (they would end up in logs and KV key hashes). */
const PRINTABLE = /^[\x20-\x7e\u00a0-\uffff]+$/;
const LIST_MAX_LIMIT = 100;

export const ListInput = v.object({
  query: v.object({
    customer_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255), v.regex(PRINTABLE))),
    status: v.optional(v.pipe(v.string(), v.regex(/^[a-z][a-z_]{0,63}$/))),
    limit: v.optional(limitSchema(LIST_MAX_LIMIT)),
    cursor: v.optional(cursorSchema(2048)),
  }),
});

const REENCRYPT_MAX_LIMIT = 100;

export const ReencryptInput = v.object({
  query: v.object({
    cursor: v.optional(cursorSchema(2048)),
    limit: v.optional(limitSchema(REENCRYPT_MAX_LIMIT)),
  }),
  body: EmptyBodySchema,
});

export const ImportInput = v.object({ body: ImportSchema });

export const RedeliverInput = v.object({
  query: v.object({
    cursor: v.optional(cursorSchema(256)),
    limit: v.optional(limitSchema(REDELIVER_MAX)),
  }),
  body: v.optional(
    v.strictObject({
      event_ids: v.optional(
        v.pipe(v.array(v.pipe(v.string(), v.regex(EVENT_ID))), v.minLength(1), v.maxLength(REDELIVER_MAX)),
      ),
    }),
  ),
});
