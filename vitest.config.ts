import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { experimental_readRawConfig } from "wrangler";
import { TEST_SECRETS, TEST_VARS } from "./test/support/secrets.ts";

/**
 * wrangler.toml's Durable Object bindings, bound to the classes of the Worker under test
 * (SQLite-backed) rather than to the state Worker its script_name names: the single-script form
 * of the split (test/support/entry.ts), read with wrangler's own parser.
 */
function localDurableObjects() {
  const { rawConfig } = experimental_readRawConfig({ config: "./wrangler.toml" });
  const bindings = rawConfig.durable_objects?.bindings ?? [];
  if (bindings.length === 0) throw new Error("wrangler.toml: no Durable Object bindings");
  return Object.fromEntries(bindings.map((b) => [b.name, { className: b.class_name, useSQLite: true }]));
}

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
            // The public Worker with the state Worker's classes in one script (test/support/entry.ts),
            // and its Durable Object bindings pointed at them in place of wrangler.toml's script_name.
            main: "./test/support/entry.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ...TEST_SECRETS, ...TEST_VARS },
              durableObjects: localDurableObjects(),
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
