import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { fromBase64Url, toBase64Url } from "../../src/lib/encoding";
import { clearKv } from "../support/fixtures";
import { connectCustomer, startFlow } from "../support/flow";
import { caseWatch, errorCode, expectRefusedSafely, propertyTimeout, runProperty } from "../support/property";
import { workerWith } from "../support/worker";

/**
 * Hostile flow cookies on /callback. The request carries a real flow's state (and a code),
 * so only the cookie decides: random Cookie headers, the real pending or done cookie with a
 * bit flipped or a character edited, under other names, repeated, or another browser's
 * valid cookie. Nothing but this browser's unaltered cookie may reach Finch or show success.
 */
beforeEach(clearKv);
const worker = workerWith({});
const PENDING = "__Host-fce_state";
const DONE = "__Host-fce_done";

/** Cookie values are `payload.signature`, both base64url. */
function flip(value: string, segment: number, position: number, bit: number): string {
  const parts = value.split(".");
  const bytes = fromBase64Url(parts[segment] ?? "");
  if (!bytes || bytes.length === 0) return `${value}x`;
  const copy = new Uint8Array(bytes);
  copy[position % copy.length] = (copy[position % copy.length] as number) ^ (1 << bit);
  parts[segment] = toBase64Url(copy);
  return parts.join(".");
}

/** What a Cookie header can carry here: workerd refuses non-ASCII header values. */
const ascii = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

it(
  "hostile flow cookies",
  async () => {
    const flow = await startFlow({}, undefined, worker);
    const other = await startFlow({ sub: "mallory", name: "Mallory" }, undefined, worker);
    const done = await connectCustomer({ sub: "initech", name: "Initech" }, undefined, worker);
    const pending = flow.jar.get(PENDING) ?? "";
    const doneCookie = done.jar.get(DONE) ?? "";
    expect(pending && doneCookie && other.jar.get(PENDING)).toBeTruthy();

    type Case = { cookie: string; target: "pending" | "done"; intact: boolean };
    const edit = (value: string, name: string, target: Case["target"]) =>
      fc.oneof(
        fc
          .tuple(fc.integer({ min: 0, max: 1 }), fc.nat(), fc.integer({ min: 0, max: 7 }))
          .map(([s, p, b]): Case => ({ cookie: `${name}=${flip(value, s, p, b)}`, target, intact: false })),
        fc
          .tuple(
            fc.nat(),
            ascii(2).filter((t) => t.length > 0 && !/[;,\s]/.test(t)),
          )
          .map(([p, t]): Case => {
            const at = p % value.length;
            const edited = value.slice(0, at) + t + value.slice(at + 1);
            // Only the unchanged cookie: an edit in the MAC's spare bits is non-canonical base64url.
            return { cookie: `${name}=${edited}`, target, intact: edited === value };
          }),
      );
    const cases = fc.oneof(
      edit(pending, PENDING, "pending"),
      edit(doneCookie, DONE, "done"),
      ascii(300).map((cookie): Case => ({ cookie, target: "pending", intact: false })),
      fc.constantFrom<Case>(
        { cookie: `${PENDING}=${other.jar.get(PENDING)}`, target: "pending", intact: false },
        { cookie: `fce_state=${pending}`, target: "pending", intact: false },
        { cookie: `__host-fce_state=${pending}`, target: "pending", intact: false },
        { cookie: `${DONE}=${pending}`, target: "done", intact: false },
        { cookie: `${PENDING}=${doneCookie}`, target: "pending", intact: false },
        // RFC 6265 allows a quoted cookie-value: the same cookie, so it is accepted.
        { cookie: `${PENDING}="${pending}"`, target: "pending", intact: true },
        { cookie: `${PENDING}=${pending.slice(0, -1)}`, target: "pending", intact: false },
        { cookie: `${PENDING}=${"A".repeat(5000)}.${"B".repeat(43)}`, target: "pending", intact: false },
      ),
    );

    const watch = caseWatch();
    await runProperty(
      "flow cookies",
      fc.asyncProperty(cases, fc.constantFrom("c0de", ""), async (c, code) => {
        const state = c.target === "done" ? done.state : flow.state;
        watch.next();
        const q = new URLSearchParams({ state, ...(code ? { code } : {}) });
        const res = await worker(`/callback?${q}`, { headers: { accept: "application/json", cookie: c.cookie } });
        await expectRefusedSafely(res, watch, { upstream: true, extraSecrets: [flow.ticket, done.code] });
        if (watch.upstream().length > 0 || res.status < 400) {
          // Only this browser's own cookie, unaltered, gets past the state check.
          expect(c.intact, `${c.target} cookie accepted: ${res.status} ${await errorCode(res)}`).toBe(true);
        } else {
          expect(await errorCode(res)).toMatch(/^(state_mismatch|code_missing|param_invalid)$/);
        }
      }),
    );
  },
  propertyTimeout(),
);
