import { AppError } from "../errors";
import { optionalJsonObject } from "../http/body";
import { opContext } from "../http/deps";
import { queryInput } from "../http/params";
import { newApp } from "../http/router";
import { redeliverEvents } from "../operations/admin";

/**
 * App-event operations under /api/events (API key and body limit from routes/api.ts).
 * See docs/events.md, "Dead letters and redelivery".
 */
export const eventRoutes = newApp();

eventRoutes.post("/redeliver", async (c) => {
  const body = await optionalJsonObject(c);
  const query = queryInput(c, { cursor: "text", limit: "number" });
  return c.json(await redeliverEvents(opContext(c), { query, body }));
});

eventRoutes.all("/redeliver", () => {
  throw new AppError("method_not_allowed", undefined, { headers: { Allow: "POST" } });
});
