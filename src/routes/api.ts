import type { Context } from "hono";
import { accessToken, disconnectConnection, getConnection, introspectConnection } from "../domain/connections";
import { importConnection } from "../domain/import";
import { listConnections, parseListQuery } from "../domain/listing";
import { REENCRYPT_MAX_LIMIT, reencryptBatch } from "../domain/reencrypt";
import { AppError } from "../errors";
import { apiAuth } from "../http/api-auth";
import { apiBodyLimit, connectionIdParam, optionalJsonObject } from "../http/body";
import { configOf, storeOf, writersOf } from "../http/deps";
import { singleParam } from "../http/params";
import { newApp } from "../http/router";
import type { AppEnv } from "../http/types";
import { eventRoutes } from "./events";
import { proxyRoutes } from "./proxy";

/**
 * The app's back end talks to connections here. Every route needs an API key (checked
 * before routing, so unauthenticated callers cannot probe which paths exist). See docs/api.md.
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

const PRINTABLE = /^[\x20-\x7e\u00a0-\uffff]+$/;

function intParam(c: Context<AppEnv>, name: string, max: number): number | undefined {
  const text = singleParam(c, name, { max: 3, pattern: /^[0-9]+$/ });
  if (text === undefined) return undefined;
  const n = Number(text);
  if (n < 1 || n > max) throw new AppError("param_invalid", `${name} out of range`);
  return n;
}

apiRoutes.get("/connections", async (c) => {
  const query = parseListQuery({
    customerId: singleParam(c, "customer_id", { max: 255, pattern: PRINTABLE }),
    status: singleParam(c, "status", { max: 64 }),
    limit: intParam(c, "limit", 100),
    cursor: singleParam(c, "cursor", { max: 2048 }),
  });
  return c.json(await listConnections(storeOf(c), query));
});

// Before the :connection_id routes, which "import" would otherwise match.
apiRoutes.post("/connections/import", async (c) => {
  const body = await optionalJsonObject(c);
  const config = configOf(c);
  const result = await importConnection({ finch: config.finch(), writers: writersOf(c) }, body, c.get("trace"));
  return c.json(result, result.imported ? 201 : 200);
});
apiRoutes.all("/connections/import", methodNotAllowed("POST"));

apiRoutes.get("/connections/:connection_id", async (c) => {
  return c.json(await getConnection(storeOf(c), connectionIdParam(c)));
});

apiRoutes.delete("/connections/:connection_id", async (c) => {
  const id = connectionIdParam(c);
  await optionalJsonObject(c);
  return c.json(await disconnectConnection(writersOf(c), id, c.get("trace")));
});

apiRoutes.post("/connections/:connection_id/token", async (c) => {
  const id = connectionIdParam(c);
  await optionalJsonObject(c);
  const token = await accessToken(writersOf(c), id, c.get("trace"));
  // The one response that carries a token: never cached, anywhere.
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
  return c.json({ access_token: token });
});

apiRoutes.post("/connections/:connection_id/introspect", async (c) => {
  const id = connectionIdParam(c);
  await optionalJsonObject(c);
  return c.json(await introspectConnection(writersOf(c), id, c.get("trace")));
});

apiRoutes.post("/admin/reencrypt", async (c) => {
  await optionalJsonObject(c);
  const input = {
    cursor: singleParam(c, "cursor", { max: 2048 }),
    limit: intParam(c, "limit", REENCRYPT_MAX_LIMIT),
  };
  const ring = configOf(c).keyRing();
  return c.json(await reencryptBatch({ store: storeOf(c), ring, writers: writersOf(c) }, input, c.get("trace")));
});

apiRoutes.all("/connections", methodNotAllowed("GET"));
apiRoutes.all("/connections/:connection_id", methodNotAllowed("GET, DELETE"));
apiRoutes.all("/connections/:connection_id/token", methodNotAllowed("POST"));
apiRoutes.all("/connections/:connection_id/introspect", methodNotAllowed("POST"));
apiRoutes.all("/admin/reencrypt", methodNotAllowed("POST"));
