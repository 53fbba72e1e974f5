// The import journal: one JSON line per final answer from the Worker, so an interrupted
// `npm run import` resumes without sending a finished line again.
//
// Format 2 (this one) keys each entry by a MAC of the request the line becomes, never by its line
// number: editing, reordering or dropping lines can then never make a line that was not imported
// look finished (format 1 did exactly that, and is refused). The MAC is HMAC-SHA-256 under a key
// derived from the API key and the Worker's origin, neither of which is in the file:
// - a token is high-entropy, so even a plain SHA-256 would not reveal it; keyed, the journal
//   cannot even confirm a guessed line to someone who finds the file without the API key;
// - a journal written against another Worker (staging) or with another key matches nothing, so
//   every line is sent again there (harmless: the Worker answers "already_present" for a token
//   it holds, and stores nothing twice). The price: rotating the API key mid-migration re-sends.
// The journal never holds a token; entries carry the MAC, the outcome, ids and a reason.
import { createHmac } from "node:crypto";
import { appendFileSync, createReadStream, existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";

export const JOURNAL_VERSION = 2;
const HEADER = { journal: "finch-connect-edge import", version: JOURNAL_VERSION };
const FIELDS = ["access_token", "customer_id", "customer_name", "customer_email"];

export const journalPathFor = (file) => `${file}.import-journal.jsonl`;
export const reportPathFor = (file) => `${file}.import-report.json`;

/** The MAC of one request body, under a key bound to the API key and the Worker's origin. */
export function lineMac(apiKey, origin) {
  const key = createHmac("sha256", apiKey).update(`finch-connect-edge import journal v2\n${origin}`).digest();
  return (body) => createHmac("sha256", key).update(JSON.stringify(body)).digest("base64url");
}

/** The request body for one line (fields in a fixed order), or why it cannot be sent. Never echoes the token. */
export function parseLine(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { refused: "invalid_json" };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { refused: "not_an_object" };
  for (const name of ["access_token", "customer_id", "customer_name"]) {
    if (typeof value[name] !== "string" || value[name] === "") return { refused: `missing_${name}` };
  }
  const body = {};
  for (const name of FIELDS) if (typeof value[name] === "string" && value[name] !== "") body[name] = value[name];
  return { body, customerId: value.customer_id };
}

/** A journal this version must not trust. */
class JournalError extends Error {}

const isEntry = (e) =>
  e && typeof e === "object" && typeof e.mac === "string" && e.mac.length > 0 && typeof e.outcome === "string";

/**
 * The journal's final outcomes by MAC. Throws JournalError for a file this version must not
 * trust: format 1 (keyed by line number) or anything else that is not format 2.
 */
export function readJournal(path) {
  const done = new Map();
  if (!existsSync(path)) return done;
  const lines = readFileSync(path, "utf8").split("\n");
  let headerSeen = false;
  for (const text of lines) {
    if (!text.trim()) continue;
    let entry;
    try {
      entry = JSON.parse(text);
    } catch {
      continue; // A line cut short by a kill: that line is simply sent again.
    }
    if (!headerSeen) {
      if (entry?.journal === HEADER.journal && entry.version === JOURNAL_VERSION) {
        headerSeen = true;
        continue;
      }
      if (entry && Number.isInteger(entry.line) && entry.mac === undefined) {
        throw new JournalError(
          `${path} was written by an older npm run import, which kept finished lines by line number: after the file changes it would skip tokens that were never imported, so it is not used. Move it aside (or pass --journal <new path>) and run again; tokens the Worker already holds answer "already_present" and nothing is stored twice.`,
        );
      }
      throw new JournalError(`${path} is not a journal of this npm run import (format ${JOURNAL_VERSION})`);
    }
    if (isEntry(entry)) done.set(entry.mac, entry);
  }
  return done;
}

/** An appender: writes the header to a new journal, and ends a line cut short by a kill first. */
export function openJournal(path) {
  if (!existsSync(path) || !readFileSync(path, "utf8").trim()) {
    appendFileSync(path, `${JSON.stringify(HEADER)}\n`, { mode: 0o600 });
  } else if (!readFileSync(path, "utf8").endsWith("\n")) {
    appendFileSync(path, "\n");
  }
  return (entry) => appendFileSync(path, `${JSON.stringify(entry)}\n`);
}

/** Every non-blank line of the file, numbered from 1 (blank lines are not counted). */
export async function* fileLines(file) {
  let n = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (text.trim()) yield { line: ++n, text };
  }
}

export async function countLines(file) {
  let n = 0;
  for await (const _ of fileLines(file)) n++;
  return n;
}
