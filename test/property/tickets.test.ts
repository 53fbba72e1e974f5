import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { fromBase64Url, toBase64Url, utf8 } from "../../src/lib/encoding";
import { clearKv, seedConnection } from "../support/fixtures";
import { mintTicket } from "../support/http";
import {
  anyText,
  caseWatch,
  errorCode,
  expectRefusedSafely,
  propertyRuns,
  propertyTimeout,
  runProperty,
} from "../support/property";
import { TEST_SECRETS } from "../support/secrets";
import { workerWith } from "../support/worker";

/**
 * Hostile tickets on /connect/session, /connect and as the callback's state: random strings,
 * valid tickets with bits flipped in the header, payload or signature, other algorithms
 * (none, HS384/HS512 with the right secret, RS256/ES256 headers over an HS256 MAC), a wrong
 * secret, and correctly signed tickets with arbitrary, huge or ill-typed claims. Only a
 * ticket signed with TICKET_SECRET under HS256, with valid claims, may start a session, and
 * then for exactly its own sub and name.
 */
beforeEach(clearKv);
const worker = workerWith({});
const enc = (value: unknown) => toBase64Url(utf8(typeof value === "string" ? value : JSON.stringify(value)));

async function mac(alg: "SHA-256" | "SHA-384" | "SHA-512", secret: string, input: string) {
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: alg }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(input)));
}

async function signWith(header: unknown, claims: unknown, secret: string, hash: "SHA-256" | "SHA-384" | "SHA-512") {
  const input = `${enc(header)}.${enc(claims)}`;
  return `${input}.${toBase64Url(await mac(hash, secret, input))}`;
}

const now = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({ sub: "acme", name: "Acme Inc", iat: now(), exp: now() + 600, jti: crypto.randomUUID() });

/** Flips one bit of one segment's decoded bytes and re-encodes it. */
function flipBit(ticket: string, segment: number, position: number, bit: number): string {
  const parts = ticket.split(".");
  const bytes = fromBase64Url(parts[segment] ?? "") ?? new Uint8Array(0);
  if (bytes.length === 0) return ticket;
  const copy = new Uint8Array(bytes);
  copy[position % copy.length] = (copy[position % copy.length] as number) ^ (1 << bit);
  parts[segment] = toBase64Url(copy);
  return parts.join(".");
}

type Hostile = { ticket: string; kind: string; mayPass?: boolean; claims?: Record<string, unknown> };
type Recipe = { make: () => Promise<Hostile>; [fc.toStringMethod]: () => string };

/** How to build one hostile ticket; prints as its inputs in a counterexample. */
const recipe = (description: unknown, make: Recipe["make"]): Recipe => ({
  make,
  [fc.toStringMethod]: () => JSON.stringify(description),
});

const tampered = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 0, max: 7 }))
  .map(([segment, position, bit]) =>
    recipe({ flip: { segment, position, bit } }, async () => ({
      ticket: flipBit(await mintTicket(), segment, position, bit),
      kind: `bit flip in segment ${segment}`,
    })),
  );

const charEdit = fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 2 })).map(([position, text]) =>
  recipe({ edit: { position, text } }, async () => {
    const valid = await mintTicket();
    const at = position % valid.length;
    const ticket = valid.slice(0, at) + text + valid.slice(at + 1);
    return {
      ticket,
      kind: "character edit",
      // Only the unchanged ticket: an edit in the signature's spare bits is non-canonical base64url.
      mayPass: ticket === valid,
      claims: { sub: "acme", name: "Acme Inc" },
    };
  }),
);

const ALGS: [string, unknown, "SHA-256" | "SHA-384" | "SHA-512"][] = [
  ["none", { alg: "none", typ: "JWT" }, "SHA-256"],
  ["HS384", { alg: "HS384", typ: "JWT" }, "SHA-384"],
  ["HS512", { alg: "HS512", typ: "JWT" }, "SHA-512"],
  ["RS256 header", { alg: "RS256", typ: "JWT" }, "SHA-256"],
  ["ES256 header", { alg: "ES256" }, "SHA-256"],
  ["lower-case alg", { alg: "hs256" }, "SHA-256"],
  ["crit header", { alg: "HS256", crit: ["exp"] }, "SHA-256"],
  ["no alg", { typ: "JWT" }, "SHA-256"],
  ["array header", ["HS256"], "SHA-256"],
];
const wrongAlg = fc.constantFrom(...ALGS).map(([name, header, hash]) =>
  recipe({ alg: name }, async () => {
    const ticket = await signWith(header, goodClaims(), TEST_SECRETS.TICKET_SECRET, hash);
    return { ticket: name === "none" ? `${ticket.split(".").slice(0, 2).join(".")}.` : ticket, kind: `alg ${name}` };
  }),
);

const wrongSecret = fc.string({ minLength: 1, maxLength: 64 }).map((secret) =>
  recipe({ secret }, async () => ({
    ticket: await signWith({ alg: "HS256", typ: "JWT" }, goodClaims(), `${secret}x`, "SHA-256"),
    kind: "wrong secret",
  })),
);

/** Correctly signed: valid claims with zero to three of them replaced by something hostile. */
const validClaims = fc.record(
  {
    sub: fc.string({ minLength: 1, maxLength: 40 }),
    name: fc.string({ minLength: 1, maxLength: 40 }),
    exp: fc.integer({ min: 60, max: 900 }),
    iat: fc.integer({ min: 0, max: 300 }),
    email: fc.constantFrom("a@example.com", "pay.roll+x@example.co.uk"),
    products: fc.uniqueArray(fc.constantFrom("company", "directory", "individual"), { minLength: 1 }),
    return_to: fc.constant("https://app.example.com/done?x=1"),
    jti: fc.uuid(),
  },
  { requiredKeys: ["sub", "name", "exp", "jti"] },
);
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  anyText(),
  fc.constant(undefined),
  fc.integer().map((d) => now() + d),
  fc.constantFrom("https://evil.com/", "javascript:alert(1)", "//evil.com", "../../etc", "a".repeat(300), [
    "company",
    1,
  ]),
);
const CLAIMS = ["sub", "name", "exp", "iat", "nbf", "email", "products", "return_to", "connection_id", "jti"];
const anyClaims = fc
  .tuple(validClaims, fc.array(fc.tuple(fc.constantFrom(...CLAIMS), hostileValue), { maxLength: 3 }))
  .map(([valid, edits]) => {
    const base: Record<string, unknown> = {
      ...valid,
      exp: now() + valid.exp,
      ...(valid.iat === undefined ? {} : { iat: now() - valid.iat }),
    };
    for (const [claim, value] of edits) base[claim] = value;
    return recipe({ claims: base }, async () => {
      const ticket = await signWith({ alg: "HS256", typ: "JWT" }, base, TEST_SECRETS.TICKET_SECRET, "SHA-256");
      return { ticket, kind: "signed, arbitrary claims", mayPass: true, claims: base };
    });
  });

const random = anyText(5000).map((ticket) => recipe({ random: ticket }, async () => ({ ticket, kind: "random" })));

it(
  "hostile tickets",
  async () => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    const watch = caseWatch();
    let started = 0;
    await runProperty(
      "tickets",
      fc.asyncProperty(
        fc.oneof(tampered, charEdit, wrongAlg, wrongSecret, anyClaims, random),
        fc.constantFrom("/connect/session", "/connect", "/callback"),
        async (recipe, route) => {
          const h = await recipe.make();
          watch.next();
          const q = new URLSearchParams(
            route === "/callback" ? { state: h.ticket, code: "c0de" } : { ticket: h.ticket },
          );
          const res = await worker(`${route}?${q}`, { headers: { accept: "application/json" } });
          // The exchange with a made-up code fails at Finch; nothing may be stored either way.
          await expectRefusedSafely(res, watch, { upstream: true });
          const sessions = watch.upstream().filter((r) => r.path === "/connect/sessions");
          if (!h.mayPass) {
            expect(watch.upstream(), h.kind).toEqual([]);
            expect(res.status, h.kind).toBeGreaterThanOrEqual(400);
            expect(await errorCode(res)).toMatch(/^(ticket_|param_invalid|state_missing|state_mismatch)/);
          } else if (sessions.length > 0) {
            started++;
            // A session is only ever created for the ticket's own customer.
            expect(sessions[0]!.json()).toMatchObject({ customer_id: h.claims?.sub, customer_name: h.claims?.name });
          }
        },
      ),
    );
    if (propertyRuns() >= 100) expect(started, "no valid ticket was ever generated").toBeGreaterThan(0);
  },
  propertyTimeout(),
);
