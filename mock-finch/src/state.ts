// In-memory state of one mock instance: sessions, authorization codes, connections, tokens.
import { type DirectoryIndividual, makeDirectory } from "./data";
import { FinchError, randomBase64Url, randomHex, uuid } from "./http";
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

/** A session keeps what it was created with (validate.ts) plus its own bookkeeping. */
export interface MockSession extends Omit<NewSessionInput, "minutesToExpire"> {
  sessionId: string;
  /** Set for re-authentication sessions. */
  connectionId: string | null;
  createdAt: number;
  expiresAt: number;
  /** A session can be approved once. */
  completed: boolean;
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
  accountId: string;
  companyId: string;
  entityIds: string[];
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

interface CodeGrant {
  sessionId: string;
  expiresAt: number;
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

export class MockState {
  readonly sessions = new Map<string, MockSession>();
  readonly codes = new Map<string, CodeGrant>();
  readonly connections = new Map<string, MockConnection>();
  readonly tokens = new Map<string, MockToken>();

  constructor(
    readonly now: () => number,
    private readonly codeTtlMs: number,
  ) {}

  /** A session that can still be shown and approved, or null. */
  liveSession(sessionId: string): MockSession | null {
    const session = this.sessions.get(sessionId);
    if (!session || session.completed || session.expiresAt <= this.now()) return null;
    return session;
  }

  /** The employer approved: mint a single-use code. Throws when the session is not live. */
  mintCode(sessionId: string): string {
    const session = this.liveSession(sessionId);
    if (!session) throw new Error(`mock-finch: session ${sessionId} is unknown, expired or already used`);
    session.completed = true;
    const code = `${uuid()}`;
    this.codes.set(code, { sessionId, expiresAt: this.now() + this.codeTtlMs });
    return code;
  }

  /** Consume a code: returns its session, or throws invalid_grant_error. */
  takeCode(code: string, check: (session: MockSession) => void): MockSession {
    const grant = this.codes.get(code);
    const session = grant && this.sessions.get(grant.sessionId);
    if (!grant || !session || grant.expiresAt <= this.now()) {
      if (grant) this.codes.delete(code);
      throw new FinchError(400, "invalid_grant_error", "The authorization code is invalid, expired or already used");
    }
    check(session); // may throw; the code stays usable until a successful exchange
    this.codes.delete(code);
    return session;
  }

  /** Issue a token for a session: a new connection, or a re-authenticated existing one. */
  issueToken(session: MockSession): TokenResponse {
    const existing = session.connectionId ? this.connections.get(session.connectionId) : undefined;
    const connection =
      existing && !existing.disconnected
        ? existing
        : this.createConnection({
            customerId: session.customerId,
            customerName: session.customerName,
            customerEmail: session.customerEmail,
            products: session.products,
            manual: session.manual,
          });
    if (connection === existing) connection.products = session.products;
    this.rotateToken(connection);
    connection.status = "connected";
    connection.statusMessage = STATUS_MESSAGES.connected;
    connection.lastSuccessfulSync = new Date(this.now()).toISOString();
    return {
      access_token: connection.accessToken as string,
      token_type: "bearer",
      connection_id: connection.connectionId,
      client_type: "sandbox",
      connection_type: "provider",
      entity_ids: [...connection.entityIds],
      products: [...connection.products],
      provider_id: connection.providerId,
      account_id: connection.accountId,
      company_id: connection.companyId,
      customer_id: connection.customerId,
      customer_name: connection.customerName,
    };
  }

  createConnection(input: {
    customerId: string | null;
    customerName: string | null;
    customerEmail?: string | null;
    products: string[];
    manual?: boolean;
  }): MockConnection {
    const connection: MockConnection = {
      connectionId: uuid(),
      status: "connected",
      statusMessage: STATUS_MESSAGES.connected,
      customerId: input.customerId,
      customerName: input.customerName,
      customerEmail: input.customerEmail ?? null,
      products: [...input.products],
      providerId: "gusto",
      accountId: uuid(),
      companyId: uuid(),
      entityIds: [uuid()],
      manual: input.manual ?? false,
      createdAt: this.now(),
      lastSuccessfulSync: new Date(this.now()).toISOString(),
      accessToken: null,
      disconnected: false,
      directory: makeDirectory(),
    };
    this.connections.set(connection.connectionId, connection);
    return connection;
  }

  /** Replace the connection's token; the old one stops working. */
  rotateToken(connection: MockConnection): string {
    if (connection.accessToken) this.tokens.delete(connection.accessToken);
    const token = randomBase64Url(32);
    connection.accessToken = token;
    this.tokens.set(token, { tokenId: uuid(), connectionId: connection.connectionId, issuedAt: this.now() });
    return token;
  }

  /** Resolve a bearer token to its live connection, or throw 401 authentication_error. */
  authenticate(token: string | null): { connection: MockConnection; token: MockToken } {
    const entry = token ? this.tokens.get(token) : undefined;
    const connection = entry && this.connections.get(entry.connectionId);
    if (!entry || !connection || connection.disconnected) {
      throw new FinchError(401, "authentication_error", "Invalid or revoked access token");
    }
    return { connection, token: entry };
  }

  disconnect(connection: MockConnection): void {
    if (connection.accessToken) this.tokens.delete(connection.accessToken);
    connection.accessToken = null;
    connection.disconnected = true;
  }

  setStatus(connectionId: string, status: ConnectionStatus, message?: string): MockConnection {
    if (!(CONNECTION_STATUSES as readonly string[]).includes(status)) {
      throw new Error(`mock-finch: unknown connection status ${JSON.stringify(status)}`);
    }
    const connection = this.connections.get(connectionId);
    if (!connection) throw new Error(`mock-finch: unknown connection ${connectionId}`);
    connection.status = status;
    connection.statusMessage = message ?? STATUS_MESSAGES[status];
    return connection;
  }

  newEventId(): string {
    return `msg_${randomHex(16)}`;
  }
}
