import * as v from "valibot";
import { AppError } from "../errors";
import { introspect } from "../finch/api";
import type { FinchSettings } from "../finch/http";
import type { Trace } from "../lib/trace";
import type { ConnectionFacts } from "../storage/records";
import { connectInput, type Writers } from "../writer/commands";

/**
 * Bringing in a Finch access token the app already holds (`POST /api/connections/import`):
 * Finch is asked about it first (one introspect), which refuses a token Finch does not accept
 * and names the connection; then the connection's single writer stores it exactly as a
 * connect would (encrypted, indexed). The same token imported twice is stored once.
 */
const text = (max: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));

/** The request body, parsed by the operation (src/operations/admin.ts) before this runs. */
export const ImportSchema = v.object({
  access_token: text(4096),
  customer_id: text(255),
  customer_name: text(255),
  customer_email: v.optional(v.pipe(v.string(), v.maxLength(320), v.email())),
});
export type ImportRequest = v.InferOutput<typeof ImportSchema>;

/**
 * What a Finch access token is made of: printable ASCII, no space (0x21-0x7E). Anything else
 * could never be a token Finch issued, and a CR, LF or NUL would otherwise reach the Bearer
 * header and fail there as an internal error (which a client retries forever). Checked
 * before Finch is asked and before anything is stored.
 */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export interface ImportResult {
  connection_id: string;
  /** false: the connection was already stored for this customer, and nothing changed. */
  imported: boolean;
  connection: ConnectionFacts;
}

export async function importConnection(
  deps: { finch: FinchSettings; writers: Writers },
  input: ImportRequest,
  trace: Trace,
): Promise<ImportResult> {
  if (!TOKEN_CHARS.test(input.access_token)) {
    throw new AppError("param_invalid", "access_token is not printable ASCII", { expose: "Field: access_token." });
  }
  let facts: Awaited<ReturnType<typeof introspect>>;
  try {
    facts = await introspect(deps.finch, input.access_token, trace);
  } catch (e) {
    // Finch answered, and not with the connection: the token is not one to keep.
    if (e instanceof AppError && (e.code === "finch_rejected" || e.code === "finch_reauthenticate")) {
      throw new AppError("token_rejected", `finch refused the imported token (${e.code})`);
    }
    throw e;
  }
  const connectionId = facts.connection_id;
  if (!connectionId) throw new AppError("finch_bad_response", "introspect named no connection");
  trace.connectionId = connectionId;
  // Finch knows which customer a Connect session was made for: the app may not file the
  // connection under another one. (Older connections carry none; the app's word stands then.)
  if (facts.customer_id && facts.customer_id !== input.customer_id) {
    throw new AppError("customer_mismatch", "imported token belongs to another customer at Finch");
  }
  const stored = await deps.writers(connectionId).importConnection(
    {
      connect: connectInput(
        {
          accessToken: input.access_token,
          customerId: input.customer_id,
          customerName: input.customer_name,
          customerEmail: input.customer_email ?? facts.customer_email ?? null,
        },
        facts,
      ),
      facts,
    },
    trace,
  );
  trace.notes.push(stored.created ? "imported" : "already stored: unchanged");
  return { connection_id: connectionId, imported: stored.created, connection: stored.connection };
}
