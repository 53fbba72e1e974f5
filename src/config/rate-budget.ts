import type { Binding, Env } from "../env";
import { ConfigError } from "../errors";
import { DEFAULT_RATE_LIMITS, FINCH_RATE_MARGIN_MS, FINCH_RATE_WINDOW_MS } from "../finch/products";
import { durableObject, intSetting, list, optional, required } from "./read";

/** The app-wide Finch rate budget (src/rate-budget/). */
export interface RateBudgetSettings {
  /** FINCH_RATE_BUDGET=off turns it off (apps with raised limits); on by default. */
  enabled: boolean;
  /** Calls per window, per product: Finch's table with FINCH_RATE_LIMITS applied. */
  limits: Readonly<Record<string, number>>;
  /** How long a call holds its slot: Finch's window plus a margin for network delay. */
  windowMs: number;
  fairShare: number | undefined;
  /** FINCH_RATE_MAX_PAUSE_S: the longest a Finch 429 pauses the budget, and the longest Retry-After of ours. */
  maxPauseMs: number;
  /** FINCH_RATE_BUDGET_UNAVAILABLE: when the budget's object cannot be reached, refuse (closed) or send (open). */
  unavailable: "closed" | "open";
  /** Budgets are per Finch application: one object per client id and product. */
  scope: string;
  /** The RATE_BUDGET namespace; undefined when the budget is off. */
  ns: Binding<"RATE_BUDGET"> | undefined;
}

export function parseRateBudget(env: Env): RateBudgetSettings {
  const mode = optional(env, "FINCH_RATE_BUDGET") ?? "on";
  if (mode !== "on" && mode !== "off") throw new ConfigError("FINCH_RATE_BUDGET", 'must be "on" or "off"');
  const limits: Record<string, number> = { ...DEFAULT_RATE_LIMITS };
  for (const entry of list(optional(env, "FINCH_RATE_LIMITS"))) {
    const match = /^([a-z][a-z-]{0,39})=([1-9][0-9]{0,8})$/.exec(entry);
    if (!match) throw new ConfigError("FINCH_RATE_LIMITS", "entries must look like product=requests_per_window");
    limits[match[1] as string] = Number(match[2]);
  }
  const windowS = intSetting(env, "FINCH_RATE_WINDOW_S", FINCH_RATE_WINDOW_MS / 1000, 1, 3600);
  const shareText = optional(env, "FINCH_RATE_FAIR_SHARE");
  const fairShare = shareText === undefined ? undefined : Number(shareText);
  if (fairShare !== undefined && !(fairShare > 0 && fairShare < 1)) {
    throw new ConfigError("FINCH_RATE_FAIR_SHARE", "must be a number between 0 and 1 (exclusive)");
  }
  const maxPauseS = intSetting(env, "FINCH_RATE_MAX_PAUSE_S", 3600, 1, 86_400);
  const unavailable = optional(env, "FINCH_RATE_BUDGET_UNAVAILABLE") ?? "closed";
  if (unavailable !== "closed" && unavailable !== "open") {
    throw new ConfigError("FINCH_RATE_BUDGET_UNAVAILABLE", 'must be "closed" or "open"');
  }
  const enabled = mode === "on";
  const ns = enabled ? durableObject(env.RATE_BUDGET, "RATE_BUDGET", " (or set FINCH_RATE_BUDGET=off)") : undefined;
  return {
    enabled,
    limits,
    // Slots are held longer than Finch's window: a call counts at Finch when it arrives.
    windowMs: windowS * 1000 + FINCH_RATE_MARGIN_MS,
    fairShare,
    maxPauseMs: maxPauseS * 1000,
    unavailable,
    scope: required(env, "FINCH_CLIENT_ID"),
    ns,
  };
}
