/**
 * The Worker's bindings. `WorkerBindings` is generated, never written by hand: `npm run types`
 * (`wrangler types`) writes it into worker-configuration.d.ts from wrangler.toml (vars, KV,
 * Queues, the Durable Object namespaces typed with their classes) and from the names in
 * .dev.vars.example (secrets, and optional vars that wrangler.toml does not set); CI fails when
 * that file is stale (`npm run typecheck`). A new setting goes into one of those two files.
 *
 * Everything is optional at the type level on purpose: a deployment can lack any secret, var or
 * binding, and config/ validates presence and shape once per isolate and names the missing
 * setting, instead of trusting the type. The generated type says what wrangler.toml declares;
 * this one says what the code may meet, so each of config/'s checks stays one the compiler asks for.
 */
export type Env = Partial<WorkerBindings & OptionalBindings>;

/** Optional bindings that wrangler.toml does not declare, so `wrangler types` cannot see them. */
interface OptionalBindings {
  /** Verified Finch webhooks fanned out to a queue of yours (docs/webhooks.md). */
  EVENTS: Queue<unknown>;
  /** Lifecycle events on a queue of yours, for Workers on the same account (docs/events.md). */
  APP_EVENTS: Queue<unknown>;
}

/** A binding as the code uses it once config/ has checked it is there. */
export type Binding<K extends keyof Env> = NonNullable<Env[K]>;
