import { opContext } from "../http/deps";
import { newApp } from "../http/router";
import { proxyFinch } from "../operations/proxy";

/**
 * ANY /api/connections/:connection_id/finch/<path>: Finch's API with the connection's token,
 * so the app (or Finch's own SDK pointed at this base URL) never holds the token itself.
 */
export const proxyRoutes = newApp();

const MARKER = "/finch";

proxyRoutes.all("/*", async (c) => {
  const connectionId = c.req.param("connection_id") ?? "";
  // The raw, still percent-encoded path: decoding here would hide encoded separators from
  // the path checks. A valid id has no characters that encode, so it appears verbatim (an
  // invalid one is refused by the operation before the path is used).
  const url = new URL(c.req.url);
  const prefix = `/connections/${connectionId}${MARKER}`;
  const at = url.pathname.indexOf(prefix);
  const path = at < 0 ? "" : url.pathname.slice(at + prefix.length);
  const declared = c.req.header("content-length");
  return proxyFinch(
    opContext(c),
    { path: { connection_id: connectionId } },
    {
      method: c.req.method,
      path,
      search: url.search,
      headers: c.req.raw.headers,
      body: c.req.raw.body,
      bodyLength: declared !== undefined && /^[0-9]{1,15}$/.test(declared) ? Number(declared) : undefined,
    },
  );
});
