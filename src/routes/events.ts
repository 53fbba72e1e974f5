import { AppError, ConfigError } from "../errors";
import { deadLetterStore, parseRedeliverInput, REDELIVER_MAX, redeliver } from "../events/dead-letters";
import { optionalJsonObject } from "../http/body";
import { configOf } from "../http/deps";
import { singleParam } from "../http/params";
import { newApp } from "../http/router";

/**
 * App-event operations under /api/events (API key and body limit from routes/api.ts).
 * See docs/events.md, "Dead letters and redelivery".
 */
export const eventRoutes = newApp();

eventRoutes.post("/redeliver", async (c) => {
  const body = await optionalJsonObject(c);
  const limitText = singleParam(c, "limit", { max: 3, pattern: /^[0-9]+$/ });
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && (limit < 1 || limit > REDELIVER_MAX))
    throw new AppError("param_invalid", "limit out of range");
  const input = parseRedeliverInput(body, { cursor: singleParam(c, "cursor", { max: 256 }), limit });
  const config = configOf(c);
  const webhook = config.appEvents().webhook;
  // Redelivery goes to the webhook queue: without APP_WEBHOOK_URL there is nowhere to send.
  if (!webhook) throw new ConfigError("APP_WEBHOOK_URL", "is missing (redelivery sends to the webhook queue)");
  const store = deadLetterStore(config.deadLetters());
  return c.json(await redeliver({ store, queue: webhook.queue }, input));
});

eventRoutes.all("/redeliver", () => {
  throw new AppError("method_not_allowed", undefined, { headers: { Allow: "POST" } });
});
