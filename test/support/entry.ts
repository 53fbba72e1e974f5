/**
 * The Worker under test: the public Worker (src/index.ts) and the state Worker's classes
 * (src/state.ts) in one script, so tests can reach into an object (runInDurableObject, the
 * fault points) beside the routes. vitest.config.ts binds the Durable Objects to these local
 * classes in place of wrangler.toml's script_name bindings. The split itself (two scripts,
 * script_name bindings) is what `npm start`, the e2e test and the benchmark run, and
 * test/node/wrangler-configs.test.mjs keeps the two configs in step.
 */
export { default, FinchConnections } from "../../src/index";
export { ConnectionWriter, EventDeadLetters, RateBudget, ReconcileCursor, TicketLedger } from "../../src/state";
