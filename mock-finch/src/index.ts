// Worker entry of the mock: one in-memory mock per isolate, configured from env
// (secrets from mock-finch/.dev.vars, written by `npm start`).
import { createMockFinch, type MockFinch } from "./mock";

export interface MockEnv {
  MOCK_CLIENT_ID?: string;
  MOCK_CLIENT_SECRET?: string;
  MOCK_EMBEDDED_CALLBACK_URL?: string;
  MOCK_WEBHOOK_SECRET?: string;
  MOCK_WEBHOOK_URL?: string;
  /** Optional: origin for connect_url when the mock is reached through another host name. */
  MOCK_CONNECT_ORIGIN?: string;
}

let mock: MockFinch | undefined;

function configError(message: string): Response {
  return new Response(JSON.stringify({ code: 500, name: "server_error", message }), {
    status: 500,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

export default {
  async fetch(request: Request, env: MockEnv): Promise<Response> {
    if (!mock) {
      for (const name of ["MOCK_CLIENT_ID", "MOCK_CLIENT_SECRET"] as const) {
        if (!env[name]) return configError(`${name} is not set: add it to mock-finch/.dev.vars (npm start writes it)`);
      }
      const secret = env.MOCK_WEBHOOK_SECRET;
      const targetUrl = env.MOCK_WEBHOOK_URL;
      mock = createMockFinch({
        clientId: env.MOCK_CLIENT_ID as string,
        clientSecret: env.MOCK_CLIENT_SECRET as string,
        connectOrigin: env.MOCK_CONNECT_ORIGIN || undefined,
        embeddedCallbackUrl: env.MOCK_EMBEDDED_CALLBACK_URL || undefined,
        webhook: secret && targetUrl ? { secret, targetUrl } : undefined,
        // Like Finch: 20 company or directory calls a minute for the whole app, then 429.
        rateLimits: true,
      });
    }
    return mock.fetch(request);
  },
} satisfies ExportedHandler<MockEnv>;
