// Finch's sandbox connection endpoints: POST /sandbox/connections (the application's Basic
// credentials) makes a live connection with no browser involved; PUT /sandbox/connections/accounts
// (the connection's token) flips its status.
import { type ConnectConfig, requireClient } from "./connect";
import { badRequest, basicCredentials, bearerToken, json, readJsonObject } from "./http";
import {
  AUTHENTICATION_TYPES,
  type AuthenticationType,
  CONNECTION_STATUSES,
  type ConnectionStatus,
  type MockConnection,
} from "./model";
import { isProvider } from "./providers";
import type { MockState } from "./state";
import { products } from "./validate";

/** Finch's default: "Organization products". */
const DEFAULT_PRODUCTS = ["company", "directory", "individual", "employment"];
/** Finch defaults to 20 people; the mock's own ceiling (Finch documents none) keeps memory small. */
const DEFAULT_EMPLOYEE_SIZE = 20;
export const MAX_EMPLOYEE_SIZE = 1000;

interface SandboxConnectionInput {
  providerId: string;
  authenticationType: AuthenticationType;
  employeeSize: number;
  products: string[];
}

function parseSandboxConnection(body: Record<string, unknown>): SandboxConnectionInput {
  const { provider_id, authentication_type, employee_size } = body;
  if (typeof provider_id !== "string" || provider_id === "") throw badRequest("provider_id is required");
  if (!isProvider(provider_id)) throw badRequest("provider_id is not a provider available in this sandbox");
  if (authentication_type != null && !(AUTHENTICATION_TYPES as readonly unknown[]).includes(authentication_type)) {
    throw badRequest(`authentication_type must be one of ${AUTHENTICATION_TYPES.join(", ")}`);
  }
  if (
    employee_size != null &&
    (typeof employee_size !== "number" ||
      !Number.isInteger(employee_size) ||
      employee_size < 1 ||
      employee_size > MAX_EMPLOYEE_SIZE)
  ) {
    throw badRequest(`employee_size must be an integer from 1 to ${MAX_EMPLOYEE_SIZE}`);
  }
  return {
    providerId: provider_id,
    authenticationType: (authentication_type ?? "credential") as AuthenticationType,
    employeeSize: (employee_size as number | null | undefined) ?? DEFAULT_EMPLOYEE_SIZE,
    products: products(body, false) ?? DEFAULT_PRODUCTS,
  };
}

/** The fields Finch's sandbox answers share (the SDK's ConnectionCreateResponse / AccountUpdateResponse). */
function accountView(c: MockConnection) {
  return {
    connection_id: c.connectionId,
    entity_id: c.entities[0]?.id ?? null,
    company_id: c.companyId,
    account_id: c.accountId,
    provider_id: c.providerId,
    authentication_type: c.authenticationType,
    products: [...c.products],
  };
}

export async function createSandboxConnection(
  state: MockState,
  config: ConnectConfig,
  request: Request,
): Promise<Response> {
  const creds = basicCredentials(request);
  requireClient(config, creds?.id, creds?.secret);
  const input = parseSandboxConnection(await readJsonObject(request));
  const connection = state.createConnection({ customerId: null, customerName: null, ...input });
  const accessToken = state.rotateToken(connection);
  return json({ access_token: accessToken, token_type: "bearer", ...accountView(connection) });
}

export async function updateSandboxAccount(state: MockState, request: Request): Promise<Response> {
  const { connection } = state.authenticate(bearerToken(request));
  const text = await request.clone().text();
  const body = text.trim() === "" ? {} : await readJsonObject(request);
  const status = body.connection_status;
  if (status != null) {
    if (!(CONNECTION_STATUSES as readonly unknown[]).includes(status)) {
      throw badRequest(`connection_status must be one of ${CONNECTION_STATUSES.join(", ")}`);
    }
    state.setStatus(connection.connectionId, status as ConnectionStatus);
  }
  return json(accountView(connection));
}
