import { Hono } from "hono";
import { AppError } from "./errors";
import { errorResponse } from "./http/error-response";
import { requestLog } from "./http/request-log";
import { securityHeaders } from "./http/security";
import type { AppEnv } from "./http/types";
import { apiRoutes } from "./routes/api";
import { callbackRoutes } from "./routes/callback";
import { connectRoutes } from "./routes/connect";
import { healthRoutes } from "./routes/health";
import { webhookRoutes } from "./routes/webhooks";

/**
 * The HTTP surface. Routes stay thin: parse the request, call a domain function, shape the
 * response. Every thrown error ends in errorResponse, the one mapping to HTTP.
 */
export function buildApp() {
  const app = new Hono<AppEnv>();
  app.use("*", requestLog);
  app.use("*", securityHeaders);

  app.route("/", connectRoutes);
  app.route("/", callbackRoutes);
  app.route("/", healthRoutes);
  app.route("/webhooks", webhookRoutes);
  app.route("/api", apiRoutes);

  app.notFound((c) => errorResponse(new AppError("not_found"), c));
  app.onError(errorResponse);
  return app;
}

export const app = buildApp();
