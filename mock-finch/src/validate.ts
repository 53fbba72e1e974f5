// Validation of Connect Session bodies, the way Finch answers bad input: 400 invalid_request.
import { badRequest } from "./http";
import { isProvider } from "./providers";

export const FINCH_PRODUCTS = [
  "benefits",
  "company",
  "deduction",
  "directory",
  "documents",
  "employment",
  "individual",
  "payment",
  "pay_statement",
  "plans",
  "plans_dependents",
  "plans_enrollments",
  "recordkeeping",
  "ssn",
] as const;

const MAX_MINUTES_TO_EXPIRE = 129_600;
/** Finch's defaults when minutes_to_expire is not sent: 90 days for a new session, 30 for a re-authentication. */
export const DEFAULT_MINUTES_NEW_SESSION = 129_600;
export const DEFAULT_MINUTES_REAUTH_SESSION = 43_200;

export interface NewSessionInput {
  customerId: string;
  customerName: string;
  customerEmail: string | null;
  products: string[];
  redirectUri: string | null;
  sandbox: "finch" | "provider" | null;
  manual: boolean;
  minutesToExpire: number;
  integration: { provider: string; auth_method?: string } | null;
}

export interface ReauthSessionInput {
  connectionId: string;
  products: string[] | null;
  redirectUri: string | null;
  minutesToExpire: number;
}

function isAbsent(v: unknown): boolean {
  return v === undefined || v === null;
}

function boundedString(body: Record<string, unknown>, key: string, required: boolean): string | null {
  const v = body[key];
  if (isAbsent(v)) {
    if (required) throw badRequest(`${key} is required`);
    return null;
  }
  if (typeof v !== "string" || v.length < 1 || v.length > 255) {
    throw badRequest(`${key} must be a string of 1 to 255 characters`);
  }
  return v;
}

export function products(body: Record<string, unknown>, required: boolean): string[] | null {
  const v = body.products;
  if (isAbsent(v)) {
    if (required) throw badRequest("products is required");
    return null;
  }
  if (!Array.isArray(v) || v.length === 0) throw badRequest("products must be a non-empty array");
  for (const p of v) {
    if (typeof p !== "string" || !(FINCH_PRODUCTS as readonly string[]).includes(p)) {
      throw badRequest(`products contains an unknown product: ${JSON.stringify(p)}`);
    }
  }
  return [...new Set(v as string[])];
}

function redirectUri(body: Record<string, unknown>): string | null {
  const v = body.redirect_uri;
  if (isAbsent(v)) return null;
  if (typeof v !== "string") throw badRequest("redirect_uri must be a string");
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw badRequest("redirect_uri must be an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw badRequest("redirect_uri must use http or https");
  }
  return v;
}

function minutesToExpire(body: Record<string, unknown>, fallback: number): number {
  const v = body.minutes_to_expire;
  if (isAbsent(v)) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_MINUTES_TO_EXPIRE) {
    throw badRequest(`minutes_to_expire must be an integer from 1 to ${MAX_MINUTES_TO_EXPIRE}`);
  }
  return v;
}

export function parseNewSession(body: Record<string, unknown>): NewSessionInput {
  const customerId = boundedString(body, "customer_id", true) as string;
  const customerName = boundedString(body, "customer_name", true) as string;
  const customerEmail = boundedString(body, "customer_email", false);
  if (customerEmail !== null && !/^[^\s@]+@[^\s@]+$/.test(customerEmail)) {
    throw badRequest("customer_email must be an email address");
  }
  const sandbox = body.sandbox;
  if (!isAbsent(sandbox) && sandbox !== "finch" && sandbox !== "provider") {
    throw badRequest('sandbox must be "finch" or "provider"');
  }
  const manual = body.manual;
  if (!isAbsent(manual) && typeof manual !== "boolean") throw badRequest("manual must be a boolean");
  const integration = body.integration;
  if (!isAbsent(integration)) {
    const i = integration as Record<string, unknown>;
    if (typeof i !== "object" || Array.isArray(i) || typeof i.provider !== "string" || !i.provider) {
      throw badRequest("integration.provider must be a non-empty string");
    }
    if (!isProvider(i.provider)) throw badRequest("integration.provider is not a provider this mock knows");
    if (!isAbsent(i.auth_method) && typeof i.auth_method !== "string") {
      throw badRequest("integration.auth_method must be a string");
    }
  }
  return {
    customerId,
    customerName,
    customerEmail,
    products: products(body, true) as string[],
    redirectUri: redirectUri(body),
    sandbox: (sandbox ?? null) as NewSessionInput["sandbox"],
    manual: manual === true,
    minutesToExpire: minutesToExpire(body, DEFAULT_MINUTES_NEW_SESSION),
    integration: isAbsent(integration) ? null : (integration as NewSessionInput["integration"]),
  };
}

export function parseReauthSession(body: Record<string, unknown>): ReauthSessionInput {
  const connectionId = body.connection_id;
  if (typeof connectionId !== "string" || connectionId.length === 0) {
    throw badRequest("connection_id is required");
  }
  return {
    connectionId,
    products: products(body, false),
    redirectUri: redirectUri(body),
    minutesToExpire: minutesToExpire(body, DEFAULT_MINUTES_REAUTH_SESSION),
  };
}
