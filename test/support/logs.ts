import { TEST_SECRETS } from "./secrets";

/**
 * The suite-wide log guard. Every console line written during a test file (by the Worker,
 * which shares the test's isolate, or by the test itself) is recorded; setup.ts asserts
 * after each test that no line holds a secret this file's tests know about: the test
 * secrets, every access token and authorization code the mock Finch handed out, every
 * ticket minted. Anything else a test considers secret can be added with `markSecret`.
 */
const METHODS = ["log", "info", "warn", "error", "debug"] as const;
/** Shorter values would match by accident (and nothing this guard tracks is that short). */
const MIN_SECRET_LENGTH = 8;

const lines: string[] = [];
const secrets = new Map<string, string>(); // value -> label
let checked = 0;
let installed = false;

/** Renders console arguments the way they could end up in a log sink: errors with message, stack and cause. */
function render(value: unknown, depth = 0): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) {
    const cause = depth < 5 && value.cause !== undefined ? ` [cause] ${render(value.cause, depth + 1)}` : "";
    return `${value.name}: ${value.message}\n${value.stack ?? ""}${cause}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Wraps the console once per isolate; output still reaches the original console. */
export function installLogCapture(): void {
  if (installed) return;
  installed = true;
  for (const method of METHODS) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      lines.push(args.map((a) => render(a)).join(" "));
      original(...args);
    };
  }
  markSecret("FINCH_CLIENT_SECRET", TEST_SECRETS.FINCH_CLIENT_SECRET);
  markSecret("TICKET_SECRET", TEST_SECRETS.TICKET_SECRET);
  for (const entry of TEST_SECRETS.ENCRYPTION_KEYS.split(",")) {
    const [kid, key = ""] = entry.split(":");
    markSecret(`encryption key ${kid}`, key);
  }
  for (const [i, key] of TEST_SECRETS.API_KEYS.split(",").entries()) markSecret(`API key ${i + 1}`, key);
  for (const [i, secret] of TEST_SECRETS.WEBHOOK_SECRETS.split(",").entries()) {
    markSecret(`webhook secret ${i + 1}`, secret);
  }
}

/** Registers a value that must never appear in a log line. The label (never the value) names it in failures. */
export function markSecret(label: string, value: string | null | undefined): void {
  if (typeof value === "string" && value.length >= MIN_SECRET_LENGTH && !secrets.has(value)) {
    secrets.set(value, label);
  }
}

/** Every console line captured in this test file so far (for tests that assert on the log). */
export function logLines(): readonly string[] {
  return lines;
}

/** Lines captured since `mark` (a previous `logLines().length`), parsed as JSON where they are JSON. */
export function jsonLogLinesSince(mark: number): Record<string, unknown>[] {
  return lines.slice(mark).flatMap((line) => {
    try {
      const value: unknown = JSON.parse(line);
      return value && typeof value === "object" && !Array.isArray(value) ? [value as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

/** The line with every known secret replaced by its label, so a failure message does not repeat one. */
function redact(line: string): string {
  let out = line;
  for (const [value, label] of secrets) out = out.split(value).join(`[${label}]`);
  return out;
}

/**
 * Checks the lines written since the last call against every secret known so far and
 * returns one message per leaking line, with the value replaced by its label so the failure
 * output does not repeat the secret.
 */
export function findLeaks(): string[] {
  const fresh = lines.slice(checked);
  checked = lines.length;
  const leaks: string[] = [];
  for (const line of fresh) {
    const labels = [...secrets].filter(([value]) => line.includes(value)).map(([, label]) => label);
    if (labels.length) leaks.push(`log line holds ${[...new Set(labels)].join(", ")}: ${redact(line)}`);
  }
  return leaks;
}
