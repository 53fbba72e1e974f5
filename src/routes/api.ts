import type { Context } from "hono";
import { AppError } from "../errors";
import { apiAuth } from "../http/api-auth";
import { apiBodyLimit, optionalJsonObject } from "../http/body";
import { opContext } from "../http/deps";
import { queryInput } from "../http/params";
import { newApp } from "../http/router";
import type { AppEnv } from "../http/types";
import { disconnectEntities, syncConnection } from "../operations/account";
import { importConnection, reencrypt } from "../operations/admin";
import {
  disconnectConnection,
  getAccessToken,
  getAuditTrail,
  getConnection,
  introspectConnection,
  listConnections,
} from "../operations/connections";
import { createSandboxConnection, sandboxEnabled } from "../operations/sandbox";
import { eventRoutes } from "./events";
import { proxyRoutes } from "./proxy";

/**
 * The app's back end talks to connections here. Every route needs an API key (checked
 * before routing, so unauthenticated callers cannot probe which paths exist). Each route only
 * gathers the request's parts into an operation's input (src/operations/) and answers its
 * result; the rules live in the operation, shared with RPC. See docs/api.md, docs/openapi.json.
 */
export const apiRoutes = newApp();

apiRoutes.use("*", apiAuth);
// The proxy streams bodies up to its own, larger limit; everything else is small JSON.
apiRoutes.route("/connections/:connection_id/finch", proxyRoutes);
apiRoutes.use("*", apiBodyLimit);
apiRoutes.route("/events", eventRoutes);

// Known paths with a method they do not support: say so instead of "not found".
const methodNotAllowed = (allow: string) => () => {
  throw new AppError("method_not_allowed", undefined, { headers: { Allow: allow } });
};

/** The :connection_id route's input, with its (optional, unused) JSON object body. */
const byId = async (c: Context<AppEnv>) => ({
  path: { connection_id: c.req.param("connection_id") },
  body: await optionalJsonObject(c),
});

apiRoutes.get("/connections", async (c) => {
  const query = queryInput(c, { customer_id: "text", status: "text", limit: "number", cursor: "text" });
  return c.json(await listConnections(opContext(c), { query }));
});

// Before the :connection_id routes, which "import" would otherwise match.
apiRoutes.post("/connections/import", async (c) => {
  const result = await importConnection(opContext(c), { body: await optionalJsonObject(c) });
  return c.json(result, result.imported ? 201 : 200);
});
apiRoutes.all("/connections/import", methodNotAllowed("POST"));

apiRoutes.get("/connections/:connection_id", async (c) => {
  return c.json(await getConnection(opContext(c), { path: { connection_id: c.req.param("connection_id") } }));
});

apiRoutes.delete("/connections/:connection_id", async (c) => {
  return c.json(await disconnectConnection(opContext(c), await byId(c)));
});

apiRoutes.post("/connections/:connection_id/token", async (c) => {
  const result = await getAccessToken(opContext(c), await byId(c));
  // The one response that carries a token: never cached, anywhere.
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
  return c.json(result);
});

apiRoutes.get("/connections/:connection_id/audit", async (c) => {
  const query = queryInput(c, { cursor: "text", limit: "number" });
  return c.json(await getAuditTrail(opContext(c), { path: { connection_id: c.req.param("connection_id") }, query }));
});

apiRoutes.post("/connections/:connection_id/introspect", async (c) => {
  return c.json(await introspectConnection(opContext(c), await byId(c)));
});

apiRoutes.post("/connections/:connection_id/entities/disconnect", async (c) => {
  return c.json(await disconnectEntities(opContext(c), await byId(c)));
});

// Accepted: Finch runs the sync; its completion arrives later as connection.data_synced.
apiRoutes.post("/connections/:connection_id/sync", async (c) => {
  return c.json(await syncConnection(opContext(c), await byId(c)), 202);
});

// Only where FINCH_SANDBOX is set; elsewhere every method answers as an unknown path does.
apiRoutes.use("/sandbox/connections", async (c, next) => {
  if (!sandboxEnabled(c.env)) throw new AppError("not_found", "sandbox connections need FINCH_SANDBOX");
  await next();
});
apiRoutes.post("/sandbox/connections", async (c) => {
  return c.json(await createSandboxConnection(opContext(c), { body: await optionalJsonObject(c) }), 201);
});

apiRoutes.post("/admin/reencrypt", async (c) => {
  const body = await optionalJsonObject(c);
  const query = queryInput(c, { cursor: "text", limit: "number" });
  return c.json(await reencrypt(opContext(c), { query, body }));
});

apiRoutes.all("/connections", methodNotAllowed("GET"));
apiRoutes.all("/connections/:connection_id", methodNotAllowed("GET, DELETE"));
apiRoutes.all("/connections/:connection_id/token", methodNotAllowed("POST"));
apiRoutes.all("/connections/:connection_id/introspect", methodNotAllowed("POST"));
apiRoutes.all("/connections/:connection_id/audit", methodNotAllowed("GET"));
apiRoutes.all("/admin/reencrypt", methodNotAllowed("POST"));
apiRoutes.all("/connections/:connection_id/entities/disconnect", methodNotAllowed("POST"));
apiRoutes.all("/connections/:connection_id/sync", methodNotAllowed("POST"));
apiRoutes.all("/sandbox/connections", methodNotAllowed("POST"));
