import { onConnection, ownConnection } from "./connections";
import { type OperationContext, writersFor } from "./context";
import { authorizedInput, DisconnectEntitiesInput } from "./input";
import type { EntitiesDisconnectedSchema, Out, SyncStartedSchema } from "./outputs";

/**
 * Operations that act at Finch on the connection's account with its token, which never leaves
 * the writer (src/writer/account.ts): some entities disconnected, a data sync started.
 */

/**
 * Disconnects some of a multi-entity connection's entities at Finch (POST /disconnect-entity),
 * then stores Finch's word on every entity. When they were its last, Finch ends the connection,
 * and it is disconnected here too (`connection_disconnected`).
 */
export async function disconnectEntities(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof EntitiesDisconnectedSchema>> {
  const { path, body } = authorizedInput(ctx.principal, "disconnectEntities", DisconnectEntitiesInput, input);
  const id = path.connection_id;
  ctx.trace.connectionId = id;
  await ownConnection(ctx, id);
  // Once each: Finch is told every entity once, and the answer lists each once.
  return writersFor(ctx.env)(id).disconnectEntities([...new Set(body.entity_ids)], ctx.trace);
}

/**
 * Finch's data_sync_all started for the connection. While one runs, Finch answers that job. Its
 * completion reaches the app as `connection.data_synced`, once Finch confirms the job its
 * webhook names.
 */
export const syncConnection = onConnection<Out<typeof SyncStartedSchema>>("syncConnection", async (ctx, id) => {
  await ownConnection(ctx, id);
  return writersFor(ctx.env)(id).startSync(ctx.trace);
});
