// Finch's own paths, as the mock serves them: a path's methods, 404 for an unknown path, 405
// (with Allow) for a known path and another method.
import { company, directory, disconnect, disconnectEntity, introspect } from "./api";
import { approve, authorize, type ConnectConfig, createSession, deny, exchangeToken, reauthSession } from "./connect";
import { FinchError, json } from "./http";
import {
  configureSandboxJobs,
  getAutomatedJob,
  sandboxJobConfiguration,
  startAutomatedJob,
  startSandboxJob,
} from "./jobs-api";
import { createSandboxConnection, updateSandboxAccount } from "./sandbox";
import type { MockState } from "./state";

export interface RouteConfig extends ConnectConfig {
  clientId: string;
}

type Handlers = Record<string, () => Response | Promise<Response>>;

function handlers(request: Request, url: URL, state: MockState, config: RouteConfig): Handlers | undefined {
  const path = url.pathname;
  const job = /^\/jobs\/automated\/([^/]+)$/.exec(path);
  if (job) return { GET: () => getAutomatedJob(state, request, decodeURIComponent(job[1] as string)) };
  switch (path) {
    case "/connect/sessions":
      return { POST: () => createSession(state, config, request) };
    case "/connect/sessions/reauthenticate":
      return { POST: () => reauthSession(state, config, request) };
    case "/authorize":
      return { GET: () => authorize(state, config, url) };
    case "/authorize/approve":
      return { GET: () => approve(state, config, url) };
    case "/authorize/deny":
      return { GET: () => deny(state, config, url) };
    case "/auth/token":
      return { POST: () => exchangeToken(state, config, request) };
    case "/introspect":
      return { GET: () => introspect(state, config.clientId, request) };
    case "/disconnect":
      return { POST: () => disconnect(state, request) };
    case "/disconnect-entity":
      return { POST: () => disconnectEntity(state, request) };
    case "/jobs/automated":
      return { POST: () => startAutomatedJob(state, request) };
    case "/sandbox/connections":
      return { POST: () => createSandboxConnection(state, config, request) };
    case "/sandbox/connections/accounts":
      return { PUT: () => updateSandboxAccount(state, request) };
    case "/sandbox/jobs":
      return { POST: () => startSandboxJob(state, request) };
    case "/sandbox/jobs/configuration":
      return { GET: () => sandboxJobConfiguration(state, request), PUT: () => configureSandboxJobs(state, request) };
    case "/employer/company":
      return { GET: () => company(state, request) };
    case "/employer/directory":
      return { GET: () => directory(state, request, url) };
    default:
      return undefined;
  }
}

export function finchRoute(request: Request, url: URL, state: MockState, config: RouteConfig): Promise<Response> {
  const m = request.method;
  const byMethod = handlers(request, url, state, config);
  if (!byMethod) throw new FinchError(404, "not_found_error", `No route for ${m} ${url.pathname}`);
  const handler = byMethod[m];
  if (!handler) {
    const err = new FinchError(405, "method_not_allowed", `${m} is not allowed on ${url.pathname}`);
    return Promise.resolve(json(err.body(), 405, { allow: Object.keys(byMethod).join(", ") }));
  }
  return Promise.resolve(handler());
}
