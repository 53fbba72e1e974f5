import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { createKeyRing } from "../../src/crypto/keyring";
import { ConnectionStore } from "../../src/storage/connections";
import { RECORD_VERSION, type StoredConnection } from "../../src/storage/records";
import { finch } from "./finch";
import { call } from "./http";
import { TEST_SECRETS } from "./secrets";

/** Helpers for the /api, proxy and RPC tests. */
export const [API_KEY, OLD_API_KEY] = TEST_SECRETS.API_KEYS.split(",") as [string, string];

/** Calls /api with the current API key (or the given Authorization value). */
export function api(path: string, init: RequestInit = {}, authorization = `Bearer ${API_KEY}`): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", authorization);
  return call(path, { ...init, headers });
}

/** The same store the Worker uses (same KV, same keys), or one with another key ring. */
export const testStore = (keys: string = TEST_SECRETS.ENCRYPTION_KEYS) =>
  new ConnectionStore(env.CONNECTIONS, createKeyRing(keys));

/** Every token handed out in this test, including ones the mock has since revoked. */
const issued = new Set<string>();

export interface Seeded {
  connectionId: string;
  accessToken: string;
  record: StoredConnection;
}

export interface SeedOptions {
  customerId?: string;
  customerName?: string;
  createdAt?: string;
  status?: string;
  connectionId?: string;
  store?: ConnectionStore;
}

/**
 * A live connection at the mock Finch, stored as the callback would store it. Faster than
 * the Connect flow and lets a test choose created_at (customer listings are newest first).
 */
export async function seedConnection(opts: SeedOptions = {}): Promise<Seeded> {
  const customerId = opts.customerId ?? "acme";
  const customerName = opts.customerName ?? "Acme Inc";
  // With a chosen id the connection exists only here (for listing order tests), not at Finch.
  const { accessToken, connectionId } = opts.connectionId
    ? { connectionId: opts.connectionId, accessToken: `local_only_${crypto.randomUUID()}` }
    : finch().mock.seedConnection({ customerId, customerName });
  issued.add(accessToken);
  const mock = finch().mock.connections.get(connectionId);
  const store = opts.store ?? testStore();
  const at = opts.createdAt ?? new Date().toISOString();
  const record: StoredConnection = {
    v: RECORD_VERSION,
    connection_id: connectionId,
    customer_id: customerId,
    customer_name: customerName,
    customer_email: null,
    provider_id: mock?.providerId ?? "gusto",
    products: ["company", "directory"],
    client_type: "sandbox",
    connection_type: "provider",
    company_id: mock?.companyId ?? null,
    account_id: mock?.accountId ?? null,
    status: opts.status ?? "connected",
    status_at: at,
    created_at: at,
    updated_at: at,
    token: await store.seal(connectionId, accessToken),
  };
  await store.create(record);
  return { connectionId, accessToken, record };
}

export function rememberToken(token: string): void {
  issued.add(token);
}

/** Fails when the response's headers or body hold any access token the mock ever issued. */
export async function expectNoToken(res: Response): Promise<void> {
  const tokens = [...issued, ...finch().mock.tokens.keys()];
  expect(tokens.length, "no token to look for: the scan would prove nothing").toBeGreaterThan(0);
  const surfaces = [await res.clone().text(), ...[...res.headers].map(([k, v]) => `${k}: ${v}`)].join("\n");
  for (const token of tokens) expect(surfaces.includes(token), "response leaks an access token").toBe(false);
}

/** The parsed record under conn:<id>, or null. */
export async function rawRecord(connectionId: string): Promise<StoredConnection | null> {
  const raw = await env.CONNECTIONS.get(`conn:${connectionId}`, "text");
  return raw === null ? null : (JSON.parse(raw) as StoredConnection);
}

export async function allKeys(prefix = ""): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.CONNECTIONS.list({ prefix, ...(cursor ? { cursor } : {}) });
    names.push(...page.keys.map((k) => k.name));
    if (page.list_complete) return names;
    cursor = page.cursor;
  }
}

export async function clearStore(): Promise<void> {
  for (const name of await allKeys()) await env.CONNECTIONS.delete(name);
}

/** A JSON error with its stable code; returns the parsed body. */
export async function expectApiError(res: Response, status: number, code: string) {
  const text = await res.clone().text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string; request_id: string } };
  expect(body.error.code).toBe(code);
  return body;
}
