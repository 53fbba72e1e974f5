// API half of the mock: introspect, disconnect (whole connection or some entities) and the
// /employer/* data endpoints.
import { makeCompany } from "./data";
import { badRequest, bearerToken, FinchError, json, readJsonObject } from "./http";
import type { MockConnection, MockState } from "./state";

/** The mock's bound on one POST /disconnect-entity list (Finch documents none). */
const MAX_DISCONNECT_ENTITIES = 100;

export function introspect(state: MockState, clientId: string, request: Request): Response {
  const { connection: c, token } = state.authenticate(bearerToken(request));
  const status = { status: c.status, last_successful_sync: c.lastSuccessfulSync, message: c.statusMessage };
  return json({
    id: token.tokenId,
    client_id: clientId,
    client_type: "sandbox",
    connection_id: c.connectionId,
    connection_status: status,
    connection_type: "provider",
    products: [...c.products],
    provider_id: c.providerId,
    payroll_provider_id: c.providerId,
    account_id: c.accountId,
    company_id: c.companyId,
    customer_id: c.customerId,
    customer_name: c.customerName,
    customer_email: c.customerEmail,
    entities: c.entities.map((e) => ({
      id: e.id,
      name: e.name,
      source_id: e.sourceId,
      status: e.disconnected || c.disconnected ? "disconnected" : c.status,
    })),
    authentication_methods: [{ type: c.authenticationType, connection_status: status, products: [...c.products] }],
    manual: c.manual,
    username: `payroll-admin@${(c.customerId ?? "customer").replace(/[^A-Za-z0-9.-]/g, "-")}.example.com`,
  });
}

export function disconnect(state: MockState, request: Request): Response {
  const { connection } = state.authenticate(bearerToken(request));
  state.disconnect(connection);
  return json({ status: "success" });
}

/** POST /disconnect-entity { entity_ids }: disconnects those entities, keeps the others. */
export async function disconnectEntity(state: MockState, request: Request): Promise<Response> {
  const { connection } = state.authenticate(bearerToken(request));
  const ids = (await readJsonObject(request)).entity_ids;
  if (
    !Array.isArray(ids) ||
    ids.length === 0 ||
    ids.length > MAX_DISCONNECT_ENTITIES ||
    !ids.every((id) => typeof id === "string" && id !== "")
  ) {
    throw badRequest(`entity_ids must be an array of 1 to ${MAX_DISCONNECT_ENTITIES} entity ids`);
  }
  state.disconnectEntities(connection, ids as string[]);
  return json({ status: "success" });
}

/** Data calls fail the way Finch does when the connection is not healthy. */
function dataConnection(state: MockState, request: Request): MockConnection {
  const { connection } = state.authenticate(bearerToken(request));
  switch (connection.status) {
    case "reauth":
      throw new FinchError(
        401,
        "authentication_error",
        "The employer must re-authenticate this connection",
        "reauthenticate_user",
      );
    case "error_no_account_setup":
      throw new FinchError(
        401,
        "account_setup_required",
        "The provider account is not set up",
        "account_setup_required",
      );
    case "error_permissions":
      throw new FinchError(
        403,
        "insufficient_account_permissions",
        "The connected account lacks permissions for this product",
        "insufficient_account_permissions",
      );
    default:
      return connection;
  }
}

export function company(state: MockState, request: Request): Response {
  const c = dataConnection(state, request);
  return json(makeCompany(c.companyId, c.customerName ?? "Mock Company Inc", c.customerId ?? "company"));
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw badRequest(`${name} must be an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

export function directory(state: MockState, request: Request, url: URL): Response {
  const c = dataConnection(state, request);
  const limit = intParam(url, "limit", 100, 1, 5000);
  const offset = intParam(url, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
  return json({
    paging: { count: c.directory.length, offset },
    individuals: c.directory.slice(offset, offset + limit),
  });
}
