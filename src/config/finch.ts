import type { Env } from "../env";
import { ConfigError } from "../errors";
import type { FinchSettings } from "../finch/http";
import { httpUrl, optional, required } from "./read";

export function parseFinch(env: Env): FinchSettings {
  const base = httpUrl("FINCH_API_BASE_URL", optional(env, "FINCH_API_BASE_URL") ?? "https://api.tryfinch.com", {
    allowPath: true,
  });
  const timeoutText = optional(env, "FINCH_TIMEOUT_MS");
  const timeoutMs = timeoutText === undefined ? 10_000 : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) {
    throw new ConfigError("FINCH_TIMEOUT_MS", "must be an integer between 100 and 60000");
  }
  return {
    baseUrl: base.href.replace(/\/+$/, ""),
    clientId: required(env, "FINCH_CLIENT_ID"),
    clientSecret: required(env, "FINCH_CLIENT_SECRET"),
    timeoutMs,
  };
}
