import * as v from "valibot";
import { authorize, type OperationId, type Principal } from "../access/principal";
import { REDELIVER_MAX } from "../app-events/dead-letters";
import { EVENT_ID } from "../app-events/model";
import { AppError } from "../errors";
import { ConnectionIdSchema, EntityIdSchema } from "../finch/schemas";
import { ImportSchema } from "./import";
import { SandboxSchema } from "./sandbox-connection";

/**
 * How every operation reads its input: one valibot schema over `{ path?, query?, body? }`,
 * the same object whether it came from an HTTP request (src/routes/) or an RPC call
 * (src/rpc/entrypoint.ts). The three parts mirror HTTP because the OpenAPI description is generated
 * from these schemas (scripts/openapi.ts); an RPC adapter fills them from its arguments.
 * A failure under `body` is `body_invalid` (and names the field to the caller); anything
 * else is `param_invalid`. Field names only, never the value, and only names the schema
 * declares: a key the caller made up (refused by a strict object) is "an unknown field",
 * never repeated in the answer or the log, since it is text the caller sent.
 */
export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const parsed = v.safeParse(schema, input);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const { path, unknown } = issue ? knownPath(schema, issue) : { path: [], unknown: false };
  const [where, ...rest] = path;
  if (where === "body") {
    const field = rest.join(".");
    if (unknown) {
      const under = field ? ` in ${field}` : "";
      throw new AppError("body_invalid", `body unknown field${under}`, { expose: `Unknown field${under}.` });
    }
    const named = field || "(root)";
    throw new AppError("body_invalid", `body field ${named} invalid`, { expose: `Field: ${named}.` });
  }
  const at = [where || "input", ...rest].join(".");
  throw new AppError("param_invalid", unknown ? `${at} unknown field` : `${at} invalid`);
}

/** An operation's first step: the caller's scope for it checked, then its input parsed (in that order, so an unauthorized caller learns nothing about the schema). */
export function authorizedInput<S extends v.GenericSchema>(
  principal: Principal,
  operation: OperationId,
  schema: S,
  input: unknown,
): v.InferOutput<S> {
  authorize(principal, operation);
  return parseInput(schema, input);
}

/** What a schema node may hold that leads to its children (valibot's objects, arrays, wrappers, unions). */
interface SchemaNode {
  entries?: Record<string, unknown>;
  item?: unknown;
  wrapped?: unknown;
  options?: readonly unknown[];
}

/**
 * The issue's path as far as the schema declares it: each object key must be one of the
 * schema's own entries (array indexes are positions, not text). The first key that is not
 * stops the walk with `unknown: true`.
 */
function knownPath(schema: v.GenericSchema, issue: v.BaseIssue<unknown>): { path: string[]; unknown: boolean } {
  const path: string[] = [];
  let nodes: unknown[] = [schema];
  for (const item of issue.path ?? []) {
    const next: unknown[] = [];
    for (const node of nodes.flatMap(unwrap)) {
      if (
        item.type === "object" &&
        typeof item.key === "string" &&
        node.entries &&
        Object.hasOwn(node.entries, item.key)
      )
        next.push(node.entries[item.key]);
      else if (item.type === "array" && typeof item.key === "number" && node.item !== undefined) next.push(node.item);
    }
    if (next.length === 0) return { path, unknown: true };
    path.push(String(item.key));
    nodes = next;
  }
  return { path, unknown: false };
}

/** A schema node with its optional/nullable wrappers removed; a union's options side by side. */
function unwrap(node: unknown, depth = 0): SchemaNode[] {
  if (!node || typeof node !== "object" || depth > 16) return [];
  const n = node as SchemaNode;
  if (n.wrapped !== undefined) return unwrap(n.wrapped, depth + 1);
  if (Array.isArray(n.options)) return n.options.flatMap((o) => unwrap(o, depth + 1));
  return [n];
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

const AUDIT_MAX_LIMIT = 200;

export const AuditInput = v.object({
  path: v.object({ connection_id: ConnectionIdSchema }),
  query: v.object({
    cursor: v.optional(cursorSchema(256)),
    limit: v.optional(limitSchema(AUDIT_MAX_LIMIT)),
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

export const SandboxInput = v.object({ body: SandboxSchema });

/** At most this many entities in one disconnect (Finch documents no bound; the mock's is the same). */
export const MAX_DISCONNECT_ENTITIES = 100;

export const DisconnectEntitiesInput = v.object({
  path: v.object({ connection_id: ConnectionIdSchema }),
  body: v.strictObject({
    entity_ids: v.pipe(v.array(EntityIdSchema), v.minLength(1), v.maxLength(MAX_DISCONNECT_ENTITIES)),
  }),
});

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
