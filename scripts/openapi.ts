import { type ConversionConfig, type JsonSchema, toJsonSchema, toJsonSchemaDefs } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { OPERATION_SCOPES, type OperationId } from "../src/access/principal";
import {
  AuditInput,
  ByIdInput,
  DisconnectEntitiesInput,
  ImportInput,
  ListInput,
  RedeliverInput,
  ReencryptInput,
  SandboxInput,
} from "../src/operations/input";
import {
  AccessTokenSchema,
  AuditTrailSchema,
  ConnectionPageSchema,
  ConnectionSchema,
  ConnectionSummarySchema,
  DisconnectedSchema,
  EntitiesDisconnectedSchema,
  errorBodySchema,
  ImportResultSchema,
  IntrospectedSchema,
  RedeliverResultSchema,
  ReencryptResultSchema,
  SyncStartedSchema,
} from "../src/operations/outputs";

/**
 * Builds docs/openapi.json from the schemas the operations parse with (src/operations/input.ts)
 * and answer with (src/operations/outputs.ts); nothing here repeats a field. What is written
 * by hand is only what a schema cannot say: each route's method, path, summary, and which
 * statuses it answers (kept honest by test/operations/outputs.test.ts, which produces every
 * one of them). `npm run openapi` rewrites the file; test/node/openapi.test.ts fails when it
 * is stale and validates it with an OpenAPI 3.1 validator.
 */
type Schema = v.GenericSchema;

export interface RouteDoc {
  method: "get" | "post" | "delete";
  /** OpenAPI form, below the Worker's origin. */
  path: string;
  /** The operation's id: its scope comes from src/access/principal.ts, the one table. */
  operationId: OperationId;
  summary: string;
  input: v.ObjectSchema<v.ObjectEntries, undefined>;
  /** Success statuses and the body each answers. */
  ok: Record<number, Schema>;
  /** Statuses with the JSON error body; 5xx failures (Finch, storage, configuration) are `default`. */
  errors: number[];
  /** Response headers worth a generator's attention. */
  noStore?: boolean;
}

const byId = "/api/connections/{connection_id}";
/** Every route: 401 without a valid key, 403 scope_missing without the route's scope. */
const BODY_ERRORS = [400, 401, 403, 413];

export const ROUTES: RouteDoc[] = [
  {
    method: "get",
    path: "/api/connections",
    operationId: "listConnections",
    summary: "List connections, a page at a time (newest first for one customer)",
    input: ListInput,
    ok: { 200: ConnectionPageSchema },
    errors: [400, 401, 403],
  },
  {
    method: "post",
    path: "/api/connections/import",
    operationId: "importConnection",
    summary: "Bring in a Finch access token the app already holds",
    input: ImportInput,
    ok: { 200: ImportResultSchema, 201: ImportResultSchema },
    errors: [...BODY_ERRORS, 409, 422],
  },
  {
    method: "get",
    path: byId,
    operationId: "getConnection",
    summary: "The connection's stored facts (never its token)",
    input: ByIdInput,
    ok: { 200: ConnectionSchema },
    errors: [400, 401, 403, 404],
  },
  {
    method: "delete",
    path: byId,
    operationId: "disconnectConnection",
    summary: "Disconnect at Finch, then forget the connection here",
    input: ByIdInput,
    ok: { 200: DisconnectedSchema },
    errors: [...BODY_ERRORS, 404],
  },
  {
    method: "post",
    path: `${byId}/token`,
    operationId: "getAccessToken",
    summary: "The connection's access token (the one answer that carries a token)",
    input: ByIdInput,
    ok: { 200: AccessTokenSchema },
    errors: [...BODY_ERRORS, 404],
    noStore: true,
  },
  {
    method: "get",
    path: `${byId}/audit`,
    operationId: "getAuditTrail",
    summary: "Who did what to the connection: its audit trail, a hash chain checked on read",
    input: AuditInput,
    ok: { 200: AuditTrailSchema },
    errors: [400, 401, 403, 404],
  },
  {
    method: "post",
    path: `${byId}/introspect`,
    operationId: "introspectConnection",
    summary: "Ask Finch about the connection and store its answer",
    input: ByIdInput,
    ok: { 200: IntrospectedSchema },
    errors: [...BODY_ERRORS, 404, 409],
  },
  {
    method: "post",
    path: `${byId}/entities/disconnect`,
    operationId: "disconnectEntities",
    summary: "Disconnect some entities of a multi-entity connection at Finch, and store Finch's answer",
    input: DisconnectEntitiesInput,
    ok: { 200: EntitiesDisconnectedSchema },
    errors: [...BODY_ERRORS, 404, 409],
  },
  {
    method: "post",
    path: `${byId}/sync`,
    operationId: "syncConnection",
    summary: "Start Finch's data_sync_all for the connection (or answer the one running)",
    input: ByIdInput,
    ok: { 202: SyncStartedSchema },
    errors: [...BODY_ERRORS, 404, 409, 429],
  },
  {
    method: "post",
    path: "/api/sandbox/connections",
    operationId: "createSandboxConnection",
    summary: "Make a Finch sandbox connection and store it (only where FINCH_SANDBOX is set)",
    input: SandboxInput,
    ok: { 201: ConnectionSchema },
    errors: [...BODY_ERRORS, 404, 422],
  },
  {
    method: "post",
    path: "/api/admin/reencrypt",
    operationId: "reencrypt",
    summary: "Re-seal one page of tokens under the active encryption key",
    input: ReencryptInput,
    ok: { 200: ReencryptResultSchema },
    errors: BODY_ERRORS,
  },
  {
    method: "post",
    path: "/api/events/redeliver",
    operationId: "redeliverEvents",
    summary: "Re-enqueue dead-lettered app events to the app's webhook",
    input: RedeliverInput,
    ok: { 200: RedeliverResultSchema },
    errors: BODY_ERRORS,
  },
];

/** Named once in components.schemas, referenced wherever an answer holds them. */
const AnyError = errorBodySchema();
const NAMED = { Connection: ConnectionSchema, ConnectionSummary: ConnectionSummarySchema, Error: AnyError };
const CONFIG: ConversionConfig = { target: "draft-2020-12", definitions: NAMED };

/** toJsonSchema refers to named schemas under #/$defs; OpenAPI keeps them in components. */
const json = (schema: Schema): JsonSchema => {
  const { $schema: _drop, $defs: _defs, ...rest } = toJsonSchema(schema, CONFIG) as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema;
};

const content = (schema: Schema) => ({ "application/json": { schema: json(schema) } });

function parameters(route: RouteDoc) {
  const out: Record<string, unknown>[] = [];
  for (const where of ["path", "query"] as const) {
    const part = route.input.entries[where];
    if (!part) continue;
    const object = json(part) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(object.properties ?? {})) {
      out.push({ name, in: where, required: where === "path" || !!object.required?.includes(name), schema });
    }
  }
  return out;
}

function requestBody(route: RouteDoc) {
  const body = route.input.entries.body;
  if (!body) return undefined;
  const optional = body.type === "optional";
  return { required: !optional, content: content(body) };
}

const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created (stored by this call)",
  202: "Accepted: Finch runs the job; its completion arrives as connection.data_synced",
  400: "Invalid parameter or body",
  401: "Missing or wrong API key",
  403: "Refused: the API key lacks the route's scope (scope_missing); for import also customer_mismatch or customer_not_allowed, for sandbox customer_not_allowed",
  404: "No such connection (or entity: entity_not_found); not_found for the sandbox route where FINCH_SANDBOX is not set",
  409: "Conflict: re-authentication needed, or disconnected here",
  413: "Body over 16 KiB",
  422: "Finch refused: the access token (import, token_rejected) or the sandbox request (sandbox_rejected)",
  429: "Finch allows one forced sync an hour per connection (finch_sync_limited; Retry-After says when)",
};

function responses(route: RouteDoc) {
  const out: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(route.ok)) {
    out[status] = {
      description: REASONS[Number(status)] ?? "OK",
      ...(route.noStore ? { headers: { "Cache-Control": { schema: { type: "string", const: "no-store" } } } } : {}),
      content: content(schema),
    };
  }
  for (const status of route.errors) {
    out[String(status)] = { description: REASONS[status] ?? "Error", content: content(errorBodySchema(status)) };
  }
  out.default = {
    description: "Finch, storage or configuration failure (5xx); see docs/errors.md",
    content: content(AnyError),
  };
  return out;
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const body = requestBody(route);
    paths[route.path] ??= {};
    const scope = OPERATION_SCOPES[route.operationId];
    (paths[route.path] as Record<string, unknown>)[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      description: `Needs an API key with the scope \`${scope}\` (docs/api.md, "Scopes").`,
      // OpenAPI 3.1 lets a non-OAuth scheme list the roles an operation requires.
      security: [{ apiKey: [scope] }],
      parameters: parameters(route),
      ...(body ? { requestBody: body } : {}),
      responses: responses(route),
    };
  }
  const named = toJsonSchemaDefs(NAMED, { target: "draft-2020-12" });
  return {
    openapi: "3.1.0",
    info: {
      title: "finch-connect-edge API",
      version: "1",
      description:
        "The app's back end and its stored Finch connections. Generated from the schemas in " +
        "src/operations/ by `npm run openapi`; docs/api.md explains each route. The Finch proxy " +
        "(/api/connections/{connection_id}/finch/...) is Finch's own API and is not described here.",
    },
    servers: [{ url: "/", description: "the Worker's origin" }],
    security: [{ apiKey: [] }],
    paths,
    components: {
      schemas: JSON.parse(JSON.stringify(named).replaceAll('"#/$defs/', '"#/components/schemas/')),
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "one of API_KEYS; a named key may be limited to scopes (listed per operation) and customers",
        },
      },
    },
  };
}
