import { AppError } from "./errors";
import { errorResponse } from "./http/error-response";
import { requestFrame } from "./http/frame";
import { newApp } from "./http/router";
import { securityHeaders } from "./http/security";
import { apiRoutes } from "./routes/api";
import { callbackRoutes } from "./routes/callback";
import { connectRoutes } from "./routes/connect";
import { healthRoutes } from "./routes/health";
import { webhookRoutes } from "./routes/webhooks";

/**
 * The HTTP surface. Routes stay thin: parse the request, call a domain function, shape the
 * response. Every thrown error ends in errorResponse, the one mapping to HTTP.
 */
function buildApp() {
  const app = newApp();
  app.use("*", securityHeaders);
  app.use("*", requestFrame);

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
