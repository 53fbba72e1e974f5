import { customerAllowed } from "../access/customers";
import { deadLetterStore, redeliver } from "../app-events/dead-letters";
import { getConfig } from "../config";
import { AppError, ConfigError } from "../errors";
import { reencryptBatch } from "../maintenance/reencrypt";
import { type OperationContext, storeFor, writersFor } from "./context";
import { importConnection as importToken } from "./import";
import { authorizedInput, ImportInput, RedeliverInput, ReencryptInput } from "./input";
import type { ImportResultSchema, Out, RedeliverResultSchema, ReencryptResultSchema } from "./outputs";

/**
 * The operator and migration operations (HTTP only today; see src/operations/connections.ts
 * for the ones RPC shares). Each checks its caller's scope first (./principal.ts), then parses
 * its unknown input once with its schema from ./input.ts.
 */
export async function reencrypt(ctx: OperationContext, input: unknown): Promise<Out<typeof ReencryptResultSchema>> {
  const { query } = authorizedInput(ctx.principal, "reencrypt", ReencryptInput, input);
  const ring = getConfig(ctx.env).keyRing();
  return reencryptBatch({ store: storeFor(ctx.env), ring, writers: writersFor(ctx.env) }, query, ctx.trace);
}

export async function importConnection(ctx: OperationContext, input: unknown): Promise<Out<typeof ImportResultSchema>> {
  const { body } = authorizedInput(ctx.principal, "importConnection", ImportInput, input);
  // Before Finch is asked: a key limited to customers imports only for them.
  if (!customerAllowed(ctx.principal.customers, body.customer_id)) {
    throw new AppError("customer_not_allowed", "import for a customer outside the caller's");
  }
  const deps = { finch: getConfig(ctx.env).finch(), writers: writersFor(ctx.env) };
  return importToken(deps, body, ctx.trace);
}

export async function redeliverEvents(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof RedeliverResultSchema>> {
  const { query, body } = authorizedInput(ctx.principal, "redeliverEvents", RedeliverInput, input);
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
