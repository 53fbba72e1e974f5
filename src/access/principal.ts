import { AppError } from "../errors";
import { sha256Hex } from "../lib/encoding";
import { type ApiKey, SCOPES, type Scope } from "./api-keys";

/**
 * Who calls an operation, and what it may do: an API key (HTTP), a key named through RPC
 * `forKey`, or the plain RPC entrypoint. Every operation gets one on its context and checks
 * it first (`authorize`), so HTTP and RPC follow the same table.
 */
export interface Principal {
  /**
   * Who acted, as logs and the audit trail name it: the key's name; `key:` and the first 8 hex
   * characters of the key's SHA-256 for a bare key; `rpc` for the unrestricted RPC entrypoint.
   * Never secret.
   */
  actor: string;
  /** The key's name, when the caller used a named key. */
  name: string | undefined;
  scopes: ReadonlySet<Scope>;
  /** Only these customers' connections; undefined for every customer. */
  customers: ReadonlySet<string> | undefined;
}

/**
 * The scope each operation needs, by operation id (the same id names the route in
 * docs/openapi.json and the method's operation in src/rpc/entrypoint.ts). A new operation adds its line
 * here; `authorize` takes only names from this table.
 */
export const OPERATION_SCOPES = {
  listConnections: "connections:read",
  getConnection: "connections:read",
  getAuditTrail: "connections:read",
  introspectConnection: "connections:write",
  disconnectConnection: "connections:write",
  importConnection: "connections:write",
  disconnectEntities: "connections:write",
  syncConnection: "connections:write",
  createSandboxConnection: "connections:write",
  proxyFinch: "proxy",
  getAccessToken: "token",
  redeliverEvents: "events",
  reencrypt: "admin",
} as const satisfies Record<string, Scope>;
export type OperationId = keyof typeof OPERATION_SCOPES;

/** Refuses a caller without the operation's scope: `403 scope_missing`, naming the scope (ours, not caller text). */
export function authorize(principal: Principal, operation: OperationId): void {
  const scope = OPERATION_SCOPES[operation];
  if (!principal.scopes.has(scope)) {
    throw new AppError("scope_missing", `${principal.actor} lacks ${scope} for ${operation}`, {
      expose: `Scope: ${scope}.`,
    });
  }
}

const EVERY_SCOPE: ReadonlySet<Scope> = new Set(SCOPES);

/** The plain RPC entrypoint: a service binding can only be made by someone who can deploy. */
export const RPC_PRINCIPAL: Principal = { actor: "rpc", name: undefined, scopes: EVERY_SCOPE, customers: undefined };

/** A named key's principal (its name is its actor). */
export function namedPrincipal(key: ApiKey & { name: string }): Principal {
  return { actor: key.name, name: key.name, scopes: key.scopes, customers: key.customers };
}

/** Per isolate: a bare key's actor needs one SHA-256 of the key, once. */
const bareActors = new WeakMap<ApiKey, Promise<string>>();

/** The principal of the API key a request presented (already matched in constant time). */
export async function principalOf(key: ApiKey): Promise<Principal> {
  if (key.name !== undefined) return namedPrincipal({ ...key, name: key.name });
  let actor = bareActors.get(key);
  if (!actor) {
    actor = sha256Hex(key.key).then((hex) => `key:${hex.slice(0, 8)}`);
    bareActors.set(key, actor);
  }
  return { actor: await actor, name: undefined, scopes: key.scopes, customers: key.customers };
}
