// The shapes the mock keeps in memory (state.ts holds them): sessions, connections, entities,
// tokens, and Finch's answer to a code exchange.
import type { DirectoryIndividual } from "./data";
import type { NewSessionInput } from "./validate";

export const CONNECTION_STATUSES = [
  "pending",
  "processing",
  "connected",
  "error_no_account_setup",
  "error_permissions",
  "reauth",
] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** How an employer authenticates with the provider (Finch's `authentication_type`). */
export const AUTHENTICATION_TYPES = ["credential", "api_token", "oauth", "assisted"] as const;
export type AuthenticationType = (typeof AUTHENTICATION_TYPES)[number];

/** A session keeps what it was created with (validate.ts) plus its own bookkeeping. */
export interface MockSession extends NewSessionInput {
  sessionId: string;
  /** Set for re-authentication sessions. */
  connectionId: string | null;
  createdAt: number;
  /** createdAt + minutesToExpire; at or after it the session can no longer be shown or approved. */
  expiresAt: number;
  /** A session can be approved once. */
  completed: boolean;
  /** The provider the employer picked when approving (providers.ts); null until then. */
  providerId: string | null;
}

/** One company of a connection (a connection may cover several: multi-entity). */
export interface MockEntity {
  id: string;
  name: string | null;
  sourceId: string | null;
  /** Set by POST /disconnect-entity; the other entities keep working. */
  disconnected: boolean;
}

export interface MockConnection {
  connectionId: string;
  status: ConnectionStatus;
  statusMessage: string;
  customerId: string | null;
  customerName: string | null;
  customerEmail: string | null;
  products: string[];
  providerId: string;
  authenticationType: AuthenticationType;
  accountId: string;
  companyId: string;
  entities: MockEntity[];
  manual: boolean;
  createdAt: number;
  lastSuccessfulSync: string | null;
  /** The one valid token of the connection; null once disconnected. */
  accessToken: string | null;
  disconnected: boolean;
  directory: DirectoryIndividual[];
}

export interface MockToken {
  tokenId: string;
  connectionId: string;
  issuedAt: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: "bearer";
  connection_id: string;
  client_type: "sandbox";
  connection_type: "provider";
  entity_ids: string[];
  products: string[];
  provider_id: string;
  account_id: string;
  company_id: string;
  customer_id: string | null;
  customer_name: string | null;
}

export const STATUS_MESSAGES: Record<ConnectionStatus, string> = {
  pending: "The connection is being set up.",
  processing: "Finch is syncing data from the provider.",
  connected: "Connected.",
  error_no_account_setup: "The employer has not finished setting up the provider account.",
  error_permissions: "The credentials lack the permissions needed for the requested products.",
  reauth: "The employer must re-authenticate this connection.",
};

/** The entities of a connection that are still connected. */
export const liveEntities = (c: MockConnection): MockEntity[] => c.entities.filter((e) => !e.disconnected);
