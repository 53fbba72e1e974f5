import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { finch } from "../support/finch";
import { connectCustomer } from "../support/flow";

describe("redirect flow happy path", () => {
  it("creates a session, exchanges the code and stores the connection", async () => {
    const { res } = await connectCustomer();
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(body).toContain("Connected");
    const sessions = finch().calls("POST /connect/sessions");
    expect(sessions).toHaveLength(1);
    const keys = await env.CONNECTIONS.list();
    expect(keys.keys.map((k) => k.name.split(":")[0]).sort()).toEqual(["conn", "cust"]);
  });
});
