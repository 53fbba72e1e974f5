import type { RateBudgetSettings } from "../config";
import { CallSlot, LEASE_HOLD_MS, LeaseBook } from "./lease";
import { PendingSlot, type RateBudgetPort } from "./slot";

/** The slots this isolate holds, across requests (rate-budget/lease.ts). */
const leases = new LeaseBook();

/**
 * The proxy's view of the app-wide budget: one RateBudget object per Finch application and
 * product. undefined when the budget is off. A call first takes a slot this isolate already
 * holds; only without one does it ask the object (which may grant a lease of several). What
 * happens when the object cannot be reached is FINCH_RATE_BUDGET_UNAVAILABLE's choice
 * (rate-budget/slot.ts): 503 finch_budget_unavailable by default, since the budget is what
 * keeps the whole app inside Finch's limits.
 */
export function rateBudgetPort(settings: RateBudgetSettings): RateBudgetPort | undefined {
  const ns = settings.ns;
  if (!settings.enabled || !ns) return undefined;
  const stub = (product: string) => ns.get(ns.idFromName(`${settings.scope}:${product}`));
  // Under fairness each connection's slots are counted apart, so its leases are its own.
  const scopeKey = `${settings.scope}\n`;
  const productKey = (product: string) => `${scopeKey}${product}\n`;
  const leaseKey = (product: string, connectionId: string) =>
    settings.fairShare === undefined ? productKey(product) : `${productKey(product)}${connectionId}`;
  const policy = { unavailable: settings.unavailable, maxPauseMs: settings.maxPauseMs };
  return {
    maxPauseMs: settings.maxPauseMs,
    budgeted: (product) => settings.limits[product] !== undefined,
    slot(product, connectionId) {
      const limit = settings.limits[product] as number;
      // The stub only when the object is asked: a call served from a lease never builds it.
      const request = {
        acquire: (ask: { want: number; giveBack?: number | undefined }) =>
          stub(product).acquire({
            connectionId,
            limit,
            windowMs: settings.windowMs,
            fairShare: settings.fairShare,
            want: ask.want,
            holdMs: LEASE_HOLD_MS,
            giveBack: ask.giveBack,
          }),
        release: (grant: number) => stub(product).release(connectionId, grant),
      };
      return new PendingSlot(product, request, new CallSlot(leases, leaseKey(product, connectionId)), policy);
    },
    async pause(product, ms) {
      // Finch's per-IP limit (product undefined) holds every product this app budgets.
      const products = product === undefined ? Object.keys(settings.limits) : [product];
      leases.drop(product === undefined ? scopeKey : productKey(product));
      await Promise.all(products.map((p) => stub(p).pause(ms)));
    },
  };
}
