import type { Env } from "../env";
import { ConfigError } from "../errors";
import { PRODUCT } from "../finch/products";
import { httpUrl, intSetting, LOOPBACK_HOSTS, list, optional, required } from "./read";

export interface ConnectSettings {
  redirectUri: string;
  products: string[];
  sandbox: "finch" | "provider" | undefined;
  successUrl: string | undefined;
  errorUrl: string | undefined;
  allowedReturnOrigins: ReadonlySet<string>;
  /**
   * TICKET_BINDING_COOKIE: the app's session cookie, also sent to this Worker (one site), whose
   * SHA-256 a ticket's `bind` claim must carry. undefined: tickets must not carry `bind`.
   */
  bindingCookie: string | undefined;
  /** Cookies get Secure and the __Host- prefix when the callback is served over https. */
  secureCookies: boolean;
  /** CONNECT_SESSION_MINUTES: Finch's minutes_to_expire for every Connect session we create. */
  sessionMinutes: number;
}

/**
 * A Connect link should not outlive its purpose: Finch keeps a session open 90 days (30 for a
 * re-authentication) unless told otherwise. 129,600 minutes is Finch's own maximum.
 */
export const SESSION_MINUTES = { fallback: 60, max: 129_600 } as const;

export function parseConnect(env: Env): ConnectSettings {
  const redirect = httpUrl("FINCH_REDIRECT_URI", required(env, "FINCH_REDIRECT_URI"), { allowPath: true });
  // Over http the flow cookies lose Secure and the __Host- prefix; anywhere but loopback that
  // would silently weaken them, so it is a configuration error instead.
  if (redirect.protocol === "http:" && !LOOPBACK_HOSTS.has(redirect.hostname)) {
    throw new ConfigError("FINCH_REDIRECT_URI", "must be https (http only on 127.0.0.1, localhost or [::1])");
  }
  const products = list(optional(env, "FINCH_PRODUCTS") ?? "company,directory");
  if (products.length === 0 || !products.every((p) => PRODUCT.test(p))) {
    throw new ConfigError("FINCH_PRODUCTS", "must be a comma-separated list of Finch product names");
  }
  const sandbox = optional(env, "FINCH_SANDBOX");
  if (sandbox !== undefined && sandbox !== "finch" && sandbox !== "provider") {
    throw new ConfigError("FINCH_SANDBOX", 'must be empty, "finch" or "provider"');
  }
  const successUrl = optional(env, "SUCCESS_URL");
  const errorUrl = optional(env, "ERROR_URL");
  const origins = new Set<string>();
  for (const origin of list(optional(env, "ALLOWED_RETURN_ORIGINS"))) {
    origins.add(httpUrl("ALLOWED_RETURN_ORIGINS", origin, { allowPath: false }).origin);
  }
  const bindingCookie = optional(env, "TICKET_BINDING_COOKIE");
  // A cookie name is an RFC 6265 token (what Hono's cookie helper reads); anything else could never be sent.
  if (bindingCookie !== undefined && !/^[\w!#$%&'*.^`|~+-]{1,128}$/.test(bindingCookie)) {
    throw new ConfigError(
      "TICKET_BINDING_COOKIE",
      "must be a cookie name (1-128 of A-Z a-z 0-9 ! # $ % & ' * . ^ _ ` | ~ + -)",
    );
  }
  return {
    redirectUri: redirect.href,
    products,
    sandbox,
    bindingCookie,
    successUrl: successUrl && httpUrl("SUCCESS_URL", successUrl, { allowPath: true }).href,
    errorUrl: errorUrl && httpUrl("ERROR_URL", errorUrl, { allowPath: true }).href,
    allowedReturnOrigins: origins,
    secureCookies: redirect.protocol === "https:",
    sessionMinutes: intSetting(env, "CONNECT_SESSION_MINUTES", SESSION_MINUTES.fallback, 1, SESSION_MINUTES.max),
  };
}

export function parseTicketSecret(env: Env): string {
  const secret = required(env, "TICKET_SECRET");
  if (secret.length < 32) throw new ConfigError("TICKET_SECRET", "must be at least 32 characters");
  return secret;
}
