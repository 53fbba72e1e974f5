import type { Config } from "../config";
import { ConfigError } from "../errors";

/**
 * What /healthz reports: the isolate is alive, and whether its configuration is usable.
 * Only setting names and fixed problem texts go in, never a value: the endpoint needs no
 * authentication, so anything here is public.
 */
export interface HealthReport {
  ok: boolean;
  checks: {
    config: { ok: boolean; problems: { setting: string; problem: string }[] };
    kv: { ok: boolean };
  };
}

export function checkHealth(config: Config): HealthReport {
  const problems = config.problems();
  let kvBound = true;
  try {
    config.kv();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    kvBound = false;
  }
  const configOk = problems.length === 0;
  return {
    ok: configOk && kvBound,
    checks: { config: { ok: configOk, problems }, kv: { ok: kvBound } },
  };
}
