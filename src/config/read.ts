import type { Env } from "../env";
import { ConfigError } from "../errors";

/** Readers shared by every section: each names the setting on error and never echoes its value. */

export const required = (env: Env, name: keyof Env): string => {
  const value = env[name];
  if (typeof value !== "string" || value.trim() === "") throw new ConfigError(name, "is missing");
  return value.trim();
};

export const optional = (env: Env, name: keyof Env): string | undefined => {
  const value = env[name];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
};

export function httpUrl(name: string, value: string, opts: { allowPath: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, "is not an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError(name, "must be http(s)");
  if (url.username || url.password || url.hash) throw new ConfigError(name, "must not carry credentials or a fragment");
  if (!opts.allowPath && url.pathname !== "/" && url.pathname !== "") throw new ConfigError(name, "must be an origin");
  return url;
}

/** Hosts where plain http is a local development setup, not a production mistake. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

export const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

export function intSetting(env: Env, name: keyof Env, fallback: number, min: number, max: number): number {
  const text = optional(env, name);
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function durableObject<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T> | undefined,
  name: string,
  hint = "",
): DurableObjectNamespace<T> {
  if (!ns || typeof ns.idFromName !== "function") {
    throw new ConfigError(name, `Durable Object binding is missing${hint}`);
  }
  return ns;
}

export const queueBinding = (q: Queue<unknown> | undefined) => (q && typeof q.send === "function" ? q : undefined);
