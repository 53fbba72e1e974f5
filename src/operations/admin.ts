import * as v from "valibot";
import { getConfig } from "../config";
import { type ImportResult, ImportSchema, importConnection as importToken } from "../domain/import";
import { type ReencryptResult, reencryptBatch } from "../domain/reencrypt";
import { AppError, ConfigError } from "../errors";
import { deadLetterStore, REDELIVER_MAX, type RedeliverResult, redeliver } from "../events/dead-letters";
import { EVENT_ID } from "../events/model";
import { type OperationContext, storeFor, writersFor } from "./context";
import { cursorSchema, EmptyBodySchema, limitSchema, parseInput } from "./input";

/**
 * The operator and migration operations (HTTP only today; see src/operations/connections.ts
 * for the ones RPC shares). Each parses its unknown input once with the schema beside it.
 */
export const REENCRYPT_MAX_LIMIT = 100;

export const ReencryptInput = v.object({
  query: v.object({
    cursor: v.optional(cursorSchema(2048)),
    limit: v.optional(limitSchema(REENCRYPT_MAX_LIMIT)),
  }),
  body: EmptyBodySchema,
});

export function reencrypt(ctx: OperationContext, input: unknown): Promise<ReencryptResult> {
  const { query } = parseInput(ReencryptInput, input);
  const ring = getConfig(ctx.env).keyRing();
  return reencryptBatch({ store: storeFor(ctx.env), ring, writers: writersFor(ctx.env) }, query, ctx.trace);
}

export const ImportInput = v.object({ body: ImportSchema });

export function importConnection(ctx: OperationContext, input: unknown): Promise<ImportResult> {
  const { body } = parseInput(ImportInput, input);
  const deps = { finch: getConfig(ctx.env).finch(), writers: writersFor(ctx.env) };
  return importToken(deps, body, ctx.trace);
}

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

export function redeliverEvents(ctx: OperationContext, input: unknown): Promise<RedeliverResult> {
  const { query, body } = parseInput(RedeliverInput, input);
  const eventIds = body?.event_ids && [...new Set(body.event_ids)];
  // Named events are found wherever they are; a cursor pages through everything instead.
  if (eventIds && query.cursor !== undefined) throw new AppError("param_invalid", "cursor with event_ids");
  const config = getConfig(ctx.env);
  const webhook = config.appEvents().webhook;
  // Redelivery goes to the webhook queue: without APP_WEBHOOK_URL there is nowhere to send.
  if (!webhook) throw new ConfigError("APP_WEBHOOK_URL", "is missing (redelivery sends to the webhook queue)");
  const store = deadLetterStore(config.deadLetters());
  return redeliver({ store, queue: webhook.queue }, { eventIds, cursor: query.cursor, limit: query.limit });
}
