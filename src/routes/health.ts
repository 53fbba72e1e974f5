import { configOf } from "../http/deps";
import { newApp } from "../http/router";
import { checkHealth } from "../operations/health";

/**
 * GET /healthz: liveness plus a configuration check, for load balancers and operators.
 * No authentication; 503 while any setting is missing or malformed, so a half-configured
 * deployment shows up before the first customer hits it.
 */
export const healthRoutes = newApp();

healthRoutes.get("/healthz", (c) => {
  const report = checkHealth(configOf(c));
  if (!report.ok) c.get("trace").outcome = "config_invalid";
  return c.json(report, report.ok ? 200 : 503);
});
