import { describe, expect, it } from "vitest";
import * as publicWorker from "../src/index";
import state, * as stateWorker from "../src/state";

/** The two entries (wrangler.toml's and wrangler.state.toml's): what each Worker exports. */
describe("the state Worker's entry", () => {
  it("answers anything that reaches its fetch with 404 not_found (it reads nothing of the request)", async () => {
    const res = state.fetch();
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("exports every Durable Object class, and the public entry none", () => {
    const classes = ["ConnectionWriter", "TicketLedger", "RateBudget", "EventDeadLetters", "ReconcileCursor"];
    for (const name of classes) {
      expect(typeof (stateWorker as Record<string, unknown>)[name], name).toBe("function");
      expect((publicWorker as Record<string, unknown>)[name], name).toBeUndefined();
    }
    expect(Object.keys(publicWorker).sort()).toEqual(["FinchConnections", "default"]);
  });
});
