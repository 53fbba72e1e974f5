import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("../src/index");
    }
    interface Env extends WorkerEnv {
      CONNECTIONS: KVNamespace;
      RECONCILE_CURSOR: NonNullable<WorkerEnv["RECONCILE_CURSOR"]>;
    }
  }
}
