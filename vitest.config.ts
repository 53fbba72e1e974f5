import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_SECRETS, TEST_VARS } from "./test/support/secrets.ts";

/**
 * Two projects, both run by `npm test`:
 * - workers: everything under test/ except test/node/, inside the Workers runtime (workerd);
 * - node: test/node/, plain Node, for tools that cannot run in workerd (the OpenAPI validator
 *   compiles schemas with `new Function`, which workerd forbids) and for writing docs/openapi.json.
 */
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: "./src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ...TEST_SECRETS, ...TEST_VARS },
              // The optional webhook fan-out queue (a real Miniflare Queue, no consumer). Tests of the
              // unbound case call the app with EVENTS removed (test/support/webhooks.ts).
              // APP_EVENTS likewise (optional in wrangler.toml); APP_WEBHOOK_QUEUE/DLQ and their consumers
              // come from wrangler.toml. test/app-events/*.test.ts drive the consumers with message batches.
              // (Object form: the ones from wrangler.toml arrive as objects, and Miniflare refuses a mix.)
              queueProducers: {
                EVENTS: { queueName: "finch-events" },
                APP_EVENTS: { queueName: "finch-app-events" },
              },
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          exclude: ["test/node/**"],
          setupFiles: ["./test/support/setup.ts"],
          // Property tests (test/support/property.ts): cases per property, and a seed to replay a failure.
          provide: { fcRuns: Number(process.env.FC_RUNS) || 0, fcSeed: Number(process.env.FC_SEED) || 0 },
        },
      },
      {
        test: { name: "node", environment: "node", include: ["test/node/**/*.test.{ts,mjs}"] },
      },
    ],
  },
});
