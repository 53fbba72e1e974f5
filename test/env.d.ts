// What the tests see as `env` (cloudflare:workers): the Worker's bindings as generated into
// worker-configuration.d.ts (`npm run types`; it also types `exports` through
// Cloudflare.GlobalProps.mainModule), plus the optional queues that vitest.config.ts binds.
declare global {
  namespace Cloudflare {
    interface Env {
      EVENTS: Queue<unknown>;
      APP_EVENTS: Queue<unknown>;
    }
  }
}

export {};
