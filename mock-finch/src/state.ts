// In-memory state of one mock instance: sessions, authorization codes, connections, tokens, jobs.
// The shapes live in model.ts (re-exported here for the modules that import them from state).
import { makeDirectory } from "./data";
import { badRequest, FinchError, randomBase64Url, randomHex, uuid } from "./http";
import { JobBook } from "./jobs";
import {
  type AuthenticationType,
  CONNECTION_STATUSES,
  type ConnectionStatus,
  type MockConnection,
  type MockEntity,
  type MockSession,
  type MockToken,
  STATUS_MESSAGES,
  type TokenResponse,
} from "./model";
import { DEFAULT_PROVIDER, isProvider, PROVIDERS } from "./providers";

export {
  CONNECTION_STATUSES,
  type ConnectionStatus,
  type MockConnection,
  type MockSession,
  type MockToken,
  STATUS_MESSAGES,
  type TokenResponse,
};

interface CodeGrant {
  sessionId: string;
  expiresAt: number;
}

/** What became of a session: shown and approved only while "live". */
export type SessionStanding = "live" | "expired" | "completed" | "unknown";

export interface NewConnection {
  customerId: string | null;
  customerName: string | null;
  customerEmail?: string | null;
  products: string[];
  manual?: boolean;
  /** A key of PROVIDERS; default gusto. */
  providerId?: string;
  authenticationType?: AuthenticationType;
  /** People in the directory; default the mock's fixed twelve. */
  employeeSize?: number;
}

export class MockState {
  readonly sessions = new Map<string, MockSession>();
  readonly codes = new Map<string, CodeGrant>();
  readonly connections = new Map<string, MockConnection>();
  readonly tokens = new Map<string, MockToken>();
  readonly jobs: JobBook;

  constructor(
    readonly now: () => number,
    private readonly codeTtlMs: number,
  ) {
    this.jobs = new JobBook(now);
  }

  standing(sessionId: string): SessionStanding {
    const session = this.sessions.get(sessionId);
    if (!session) return "unknown";
    if (session.completed) return "completed";
    return session.expiresAt <= this.now() ? "expired" : "live";
  }

  /** A session that can still be shown and approved, or null. */
  liveSession(sessionId: string): MockSession | null {
    return this.standing(sessionId) === "live" ? (this.sessions.get(sessionId) ?? null) : null;
  }

  /**
   * The employer approved (with `providerId`, default: the session's integration, else gusto):
   * mint a single-use code. Throws when the session is not live or the provider is unknown.
   */
  mintCode(sessionId: string, providerId?: string): string {
    const session = this.liveSession(sessionId);
    if (!session) throw new Error(`mock-finch: session ${sessionId} is unknown, expired or already used`);
    const provider = providerId ?? session.integration?.provider ?? DEFAULT_PROVIDER;
    if (!isProvider(provider)) throw new Error(`mock-finch: unknown provider ${JSON.stringify(provider)}`);
    session.providerId = provider;
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
            providerId: session.providerId ?? DEFAULT_PROVIDER,
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
      entity_ids: connection.entities.filter((e) => !e.disconnected).map((e) => e.id),
      products: [...connection.products],
      provider_id: connection.providerId,
      account_id: connection.accountId,
      company_id: connection.companyId,
      customer_id: connection.customerId,
      customer_name: connection.customerName,
    };
  }

  createConnection(input: NewConnection): MockConnection {
    const providerId = input.providerId ?? DEFAULT_PROVIDER;
    const provider = PROVIDERS[providerId];
    if (!provider) throw new Error(`mock-finch: unknown provider ${JSON.stringify(providerId)}`);
    const authenticationType = input.authenticationType ?? "credential";
    // Finch's team sets assisted connections up by hand: they start pending.
    const status: ConnectionStatus = authenticationType === "assisted" ? "pending" : "connected";
    const base = input.customerName ?? `${provider.name} sandbox company`;
    const entities: MockEntity[] = Array.from({ length: provider.entities }, (_, i) => ({
      id: uuid(),
      name: provider.entities === 1 ? base : `${base} (entity ${i + 1})`,
      sourceId: `mock-${randomHex(4)}`,
      disconnected: false,
    }));
    const connection: MockConnection = {
      connectionId: uuid(),
      status,
      statusMessage: STATUS_MESSAGES[status],
      customerId: input.customerId,
      customerName: input.customerName,
      customerEmail: input.customerEmail ?? null,
      products: [...input.products],
      providerId,
      authenticationType,
      accountId: uuid(),
      companyId: uuid(),
      entities,
      manual: input.manual ?? authenticationType === "assisted",
      createdAt: this.now(),
      lastSuccessfulSync: status === "connected" ? new Date(this.now()).toISOString() : null,
      accessToken: null,
      disconnected: false,
      directory: makeDirectory(input.employeeSize),
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

  /**
   * Disconnects some entities and keeps the rest. Every id must be an entity of the connection
   * (already disconnected ones are fine: a repeat is harmless). When no entity is left, the
   * connection is disconnected as by /disconnect (the mock's choice: nothing is left to serve).
   */
  disconnectEntities(connection: MockConnection, ids: readonly string[]): void {
    const byId = new Map(connection.entities.map((e) => [e.id, e]));
    if (!ids.every((id) => byId.has(id))) {
      throw badRequest("entity_ids contains an id that is not an entity of this connection");
    }
    for (const id of ids) (byId.get(id) as MockEntity).disconnected = true;
    if (connection.entities.every((e) => e.disconnected)) this.disconnect(connection);
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
