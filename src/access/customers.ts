import { AppError } from "../errors";

/**
 * A caller limited to customers (an API key's `customers`, docs/api.md "Scopes") sees only
 * their connections: any other answers 404 connection_not_found, as if it did not exist.
 */
export type Customers = ReadonlySet<string> | undefined;

/** A connection with no customer belongs to no restricted caller. */
export const customerAllowed = (customers: Customers, customerId: string | null | undefined): boolean =>
  customers === undefined || (typeof customerId === "string" && customers.has(customerId));

/** Another customer's connection is answered as if it did not exist: its existence is not leaked. */
const notYours = () => new AppError("connection_not_found", "connection of a customer outside the caller's");

/** For a caller limited to customers: a record it holds must be one of theirs (a miss is not found). */
export function ensureCustomer(record: { customer_id: string } | undefined, customers: Customers): void {
  if (customers === undefined) return;
  if (!record) throw new AppError("connection_not_found", "not in KV here: a restricted caller cannot be checked");
  if (!customerAllowed(customers, record.customer_id)) throw notYours();
}

/** After the writer answered: the customer is checked on the writer's own record (exact, however far KV lags). */
export function checkCustomer<T extends { customer_id: string | null }>(facts: T, customers: Customers): T {
  if (!customerAllowed(customers, facts.customer_id)) throw notYours();
  return facts;
}
