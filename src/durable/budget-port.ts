import type { RateBudgetSettings } from "../config";
import type { RateBudgetPort } from "../domain/proxy";
import { AppError } from "../errors";

/**
 * The proxy's view of the app-wide budget: one RateBudget object per Finch application and
 * product. undefined when the budget is off. An object that cannot be reached is a refusal
 * (503 storage_unavailable, retry later), never a silent pass: the budget is what keeps the
 * whole app inside Finch's limits.
 */
export function rateBudgetPort(settings: RateBudgetSettings): RateBudgetPort | undefined {
  const ns = settings.ns;
  if (!settings.enabled || !ns) return undefined;
  const stub = (product: string) => ns.get(ns.idFromName(`${settings.scope}:${product}`));
  return {
    budgeted: (product) => settings.limits[product] !== undefined,
    async acquire(product, connectionId) {
      const limit = settings.limits[product];
      if (limit === undefined) return { ok: true };
      try {
        return await stub(product).acquire({
          connectionId,
          limit,
          windowMs: settings.windowMs,
          fairShare: settings.fairShare,
        });
      } catch {
        throw new AppError("storage_unavailable", `rate budget ${product} unreachable`);
      }
    },
    async pause(product, ms) {
      await stub(product).pause(ms);
    },
  };
}
