import { exports } from "cloudflare:workers";
import Finch from "@tryfinch/finch-api";
import { describe, expect, it } from "vitest";
import { finch } from "../support/finch";
import { seedConnection } from "../support/fixtures";
import { API_KEY } from "../support/http";
import { WORKER_ORIGIN } from "../support/secrets";

/**
 * Finch's official SDK, unchanged, pointed at the proxy: the API key goes where the SDK
 * puts its access token, and the Worker swaps it for the connection's real token.
 */
function sdkFor(connectionId: string, apiKey = API_KEY) {
  return new Finch({
    accessToken: apiKey,
    baseURL: `${WORKER_ORIGIN}/api/connections/${connectionId}/finch`,
    // The Worker itself stands in for the network; it calls the mock Finch as usual.
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    maxRetries: 0,
    timeout: 5_000,
  });
}

describe("the published @tryfinch/finch-api SDK through the proxy", () => {
  it("retrieves the employer's company and directory", async () => {
    const { connectionId, accessToken } = await seedConnection({ customerId: "globex", customerName: "Globex Corp" });
    const client = sdkFor(connectionId);

    const company = await client.hris.company.retrieve();
    expect(company.legal_name).toBe("Globex Corp");
    expect(company.id).toBe(finch().mock.connections.get(connectionId)?.companyId);

    const page = await client.hris.directory.list({ limit: 5 });
    expect(page.individuals).toHaveLength(5);

    const sent = finch().sent;
    expect(sent.map((r) => `${r.method} ${r.path}${r.url.search}`)).toEqual([
      "GET /employer/company",
      "GET /employer/directory?limit=5",
    ]);
    for (const r of sent) {
      expect(r.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
      expect(r.headers.get("finch-api-version")).toBe("2020-09-17");
    }
  });

  it("surfaces Finch's reauthenticate_user error as the SDK's AuthenticationError", async () => {
    const { connectionId } = await seedConnection();
    finch().mock.setConnectionStatus(connectionId, "reauth");
    const error = await sdkFor(connectionId)
      .hris.company.retrieve()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Finch.AuthenticationError);
    expect((error as InstanceType<typeof Finch.AuthenticationError>).status).toBe(401);
  });

  it("is refused with 401 when the SDK holds a wrong API key, without reaching Finch", async () => {
    const { connectionId } = await seedConnection();
    const error = await sdkFor(connectionId, "fce_wrong_key_0123456789abcdef")
      .hris.company.retrieve()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Finch.AuthenticationError);
    expect(finch().sent).toEqual([]);
  });
});
