import type { Binding, Env } from "../env";
import { ConfigError } from "../errors";
import { durableObject } from "./read";

export function parseKv(env: Env): KVNamespace {
  const kv = env.CONNECTIONS;
  if (!kv || typeof kv.get !== "function") throw new ConfigError("CONNECTIONS", "KV binding is missing");
  return kv;
}

/** Checked here only so /healthz names it; writer/client.ts checks it again where it is used. */
export function parseWriterBinding(env: Env): true {
  durableObject(env.CONNECTION_WRITER, "CONNECTION_WRITER");
  return true;
}

export function parseTickets(env: Env): Binding<"TICKETS"> {
  return durableObject(env.TICKETS, "TICKETS");
}
