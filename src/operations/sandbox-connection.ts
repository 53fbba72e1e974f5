import * as v from "valibot";
import { AppError } from "../errors";
import { introspect } from "../finch/api";
import type { FinchSettings } from "../finch/http";
import { PRODUCT } from "../finch/products";
import { createSandboxConnection, type SandboxConnection } from "../finch/sandbox";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import type { ConnectionFacts } from "../storage/records";
import { connectInput, type Writers } from "../writer/commands";

/**
 * A Finch sandbox connection in one call (`POST /api/sandbox/connections`, only when
 * FINCH_SANDBOX is set): Finch's POST /sandbox/connections makes a live connection with no
 * browser, Finch is asked about it (one introspect: its entities, status and facts), and the
 * connection's single writer stores it as an import would, telling the app
 * `connection.created` with source "sandbox".
 */
/** Printable text (no control characters: they would reach logs and Finch's dashboard). */
const text = (max: number) =>
  v.pipe(v.string(), v.minLength(1), v.maxLength(max), v.regex(/^[\x20-\x7e\u00a0-\uffff]+$/));
/** Finch's provider ids (gusto, adp_run, finch_multi_entity, ...): lower case, digits, underscores. */
const PROVIDER_ID = /^[a-z0-9][a-z0-9_]{0,63}$/;
/** Finch documents no bound; above 100 it generates a single pay period. The bound is ours. */
export const MAX_SANDBOX_EMPLOYEES = 1_000_000;
const MAX_PRODUCTS = 32;

/** The request body, parsed by the operation (src/operations/sandbox.ts) before this runs. */
export const SandboxSchema = v.strictObject({
  customer_id: text(255),
  customer_name: text(255),
  provider_id: v.pipe(v.string(), v.regex(PROVIDER_ID)),
  /** Finch's default when absent: its organization products. */
  products: v.optional(
    v.pipe(v.array(v.pipe(v.string(), v.regex(PRODUCT))), v.minLength(1), v.maxLength(MAX_PRODUCTS)),
  ),
  /** Finch's default when absent: 20. */
  employee_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SANDBOX_EMPLOYEES))),
});
export type SandboxRequest = v.InferOutput<typeof SandboxSchema>;

/**
 * Finch's answer about the new connection, asked with its token. When Finch cannot be asked
 * right after making it, its sandbox answer stands (Finch's own word about a connection made
 * this instant): the connection is stored rather than left at Finch unknown here.
 */
async function newConnectionFacts(finch: FinchSettings, c: SandboxConnection, trace: Trace): Promise<Introspection> {
  try {
    const facts = await introspect(finch, c.accessToken, trace);
    if (facts.connection_id && facts.connection_id !== c.connectionId) {
      throw new AppError("finch_bad_response", "introspect names another connection than the sandbox made");
    }
    return facts;
  } catch (e) {
    if (e instanceof AppError && e.code === "finch_bad_response") throw e;
    trace.notes.push("introspect of the new sandbox connection failed: stored from the sandbox answer");
    return {
      connection_id: c.connectionId,
      provider_id: c.providerId,
      products: c.products,
      company_id: c.companyId,
      account_id: c.accountId,
      entities: c.entityIds.map((id) => ({ id })),
    };
  }
}

export async function createSandbox(
  deps: { finch: FinchSettings; writers: Writers },
  input: SandboxRequest,
  trace: Trace,
): Promise<ConnectionFacts> {
  const created = await createSandboxConnection(
    deps.finch,
    { providerId: input.provider_id, products: input.products, employeeSize: input.employee_size },
    trace,
  );
  const facts = await newConnectionFacts(deps.finch, created, trace);
  const app = {
    accessToken: created.accessToken,
    customerId: input.customer_id,
    customerName: input.customer_name,
    customerEmail: null,
  };
  const finch = {
    provider_id: created.providerId,
    products: created.products,
    company_id: created.companyId,
    account_id: created.accountId,
    entity_ids: created.entityIds,
  };
  const stored = await deps
    .writers(created.connectionId)
    .importConnection({ connect: connectInput(app, finch), facts, source: "sandbox" }, trace);
  trace.notes.push(stored.created ? "sandbox connection stored" : "sandbox connection was already stored");
  return stored.connection;
}
