import type { RateBudgetSettings } from "../config";
import type { RateBudgetPort } from "../domain/proxy";
import { LEASE_HOLD_MS, LeaseBook } from "../domain/rate-lease";
import { AppError } from "../errors";

/** The slots this isolate holds, across requests (domain/rate-lease.ts). */
const leases = new LeaseBook();

/**
 * The proxy's view of the app-wide budget: one RateBudget object per Finch application and
 * product. undefined when the budget is off. A call first takes a slot this isolate already
 * holds; only without one does it ask the object (which may grant a lease of several). An
 * object that cannot be reached is a refusal (503 storage_unavailable, retry later), never a
 * silent pass: the budget is what keeps the whole app inside Finch's limits.
 */
export function rateBudgetPort(settings: RateBudgetSettings): RateBudgetPort | undefined {
  const ns = settings.ns;
  if (!settings.enabled || !ns) return undefined;
  const stub = (product: string) => ns.get(ns.idFromName(`${settings.scope}:${product}`));
  // Under fairness each connection's slots are counted apart, so its leases are its own.
  const productKey = (product: string) => `${settings.scope}\n${product}\n`;
  const leaseKey = (product: string, connectionId: string) =>
    settings.fairShare === undefined ? productKey(product) : `${productKey(product)}${connectionId}`;
  return {
    budgeted: (product) => settings.limits[product] !== undefined,
    async acquire(product, connectionId) {
      const limit = settings.limits[product];
      if (limit === undefined) return { ok: true, granted: 1 };
      const key = leaseKey(product, connectionId);
      const sentAt = Date.now();
      if (leases.take(key, sentAt)) return { ok: true, granted: 1 };
      let decision: Awaited<ReturnType<RateBudgetPort["acquire"]>>;
      try {
        decision = await stub(product).acquire({
          connectionId,
          limit,
          windowMs: settings.windowMs,
          fairShare: settings.fairShare,
          want: leases.want(key, sentAt),
          holdMs: LEASE_HOLD_MS,
        });
      } catch {
        throw new AppError("storage_unavailable", `rate budget ${product} unreachable`);
      }
      if (decision.ok) leases.add(key, sentAt, decision.granted);
      return decision.ok ? { ok: true, granted: 1 } : decision;
    },
    async pause(product, ms) {
      leases.drop(productKey(product));
      await stub(product).pause(ms);
    },
  };
}
