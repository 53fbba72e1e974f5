#!/usr/bin/env node
// Creates a Finch sandbox connection through the Worker and prints its connection id.
// Usage: FINCH_EDGE_API_KEY=... npm run sandbox -- --customer-id acme --customer-name "Acme Inc" --provider gusto
import { HELP, parseSandboxArgs, requestSandboxConnection, SandboxError, UsageError } from "./lib/sandbox.mjs";

let request;
try {
  request = parseSandboxArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`sandbox: ${e.message}\nRun with --help for usage.\n`);
  process.exit(2);
}
if (request.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

try {
  const connection = await requestSandboxConnection(request);
  const { connection_id, provider_id, status, customer_id } = connection;
  process.stderr.write(
    `sandbox: created connection for customer ${customer_id ?? request.body.customer_id} (provider ${provider_id ?? request.body.provider_id}, status ${status ?? "unknown"})\n`,
  );
  process.stdout.write(`${connection_id}\n`);
} catch (e) {
  if (!(e instanceof SandboxError)) throw e;
  process.stderr.write(`sandbox: ${e.code}: ${e.message}\n`);
  process.exit(1);
}
