import { FINCH_RATE_MARGIN_MS, FINCH_RATE_WINDOW_MS } from "../../src/finch/products";
import { type Ask, CallSlot, LEASE_HOLD_MS, LeaseBook, MAX_ASKS } from "../../src/rate-budget/lease";
import { type Grant, SlidingWindow, type WindowStore } from "../../src/rate-budget/window";

/**
 * A discrete-event run of the rate budget for test/sim/rate-lease.test.ts: isolates with their own
 * lease books, one budget object (the production SlidingWindow over a store that outlives its
 * resets, as its SQLite does), and a delay on every hop. Each call is driven through the
 * production `CallSlot` the way rate-budget/slot.ts drives it: the slot is asked for while the
 * token is read; once both are in, the call sends, asks again (its slot went stale), gives up,
 * or gives its slot back (its token read failed). Returns when Finch received each call.
 */
export interface SimCall {
  at: number;
  isolate: number;
  connection: number;
  /** The token read fails (an unknown connection): the call never goes to Finch. */
  unknown: boolean;
  /** Per request to the object (at most MAX_ASKS): the trip there and the answer's way back. */
  toObject: readonly number[];
  fromObject: readonly number[];
  tokenRead: number;
  toFinch: number;
  /** The trip of a give-back to the object. */
  release: number;
}

export interface SimRun {
  limit: number;
  fairShare: number | undefined;
  calls: readonly SimCall[];
  /** When the object is reset: its memory is lost, its storage kept. */
  resets: readonly number[];
  /** The budget's window (default: Finch's window plus the production margin). */
  windowMs?: number;
}

/** A WindowStore kept outside the object, like its SQLite storage: it survives resets. */
export function keptStore(): WindowStore {
  const grants = new Map<number, Grant>();
  let ids = 0;
  let pausedUntil = 0;
  return {
    load: () => ({ grants: [...grants.values()].map((g) => ({ ...g })), pausedUntil }),
    add(g) {
      ids++;
      grants.set(ids, { id: ids, ...g });
      return ids;
    },
    resize(id, n) {
      const g = grants.get(id);
      if (g && n > 0) g.n = n;
      else grants.delete(id);
    },
    expire(upTo) {
      for (const [id, g] of grants) if (g.at <= upTo) grants.delete(id);
    },
    pause(until) {
      pausedUntil = until;
    },
  };
}

interface Flight {
  call: SimCall;
  slot: CallSlot;
  asks: number;
  ask: Ask | undefined;
  /** The object's answer to the last ask, once it is back; "waiting" while it is out. */
  answer: ReturnType<SlidingWindow["acquire"]> | "waiting" | undefined;
  tokenIn: boolean;
  done: boolean;
}

type Event =
  | { t: number; kind: "call"; call: SimCall }
  | { t: number; kind: "token"; f: Flight }
  | { t: number; kind: "acquire"; f: Flight; ask: Ask }
  | { t: number; kind: "answer"; f: Flight; decision: ReturnType<SlidingWindow["acquire"]> }
  | { t: number; kind: "release"; connection: number; grant: number }
  | { t: number; kind: "reset" };

export function simulateBudget(run: SimRun): number[] {
  const windowMs = run.windowMs ?? FINCH_RATE_WINDOW_MS + FINCH_RATE_MARGIN_MS;
  const store = keptStore();
  let window = new SlidingWindow(store);
  const books = new Map<number, LeaseBook>();
  const book = (isolate: number) =>
    books.get(isolate) ?? (books.set(isolate, new LeaseBook()).get(isolate) as LeaseBook);
  const key = (c: SimCall) => (run.fairShare === undefined ? "p" : `p\n${c.connection}`);
  const events = new EventQueue<Event>();
  const push = (e: Event) => events.push(e);
  const arrivals: number[] = [];
  const ask = (f: Flight, a: Ask, t: number) => {
    f.ask = a;
    f.answer = "waiting";
    push({ t: t + (f.call.toObject[f.asks] ?? 0), kind: "acquire", f, ask: a });
    f.asks++;
  };
  const release = (f: Flight, grant: number | undefined, t: number) => {
    if (grant !== undefined) push({ t: t + f.call.release, kind: "release", connection: f.call.connection, grant });
  };
  // Both the token and the object's answer are in: what rate-budget/slot.ts does next.
  const proceed = (f: Flight, t: number) => {
    if (f.done || !f.tokenIn || f.answer === "waiting") return;
    const decision = f.answer;
    f.answer = undefined;
    if (f.call.unknown) {
      if (decision) f.slot.answered(f.ask as Ask, decision);
      release(f, f.slot.cancel(t), t);
      f.done = true;
      return;
    }
    if (decision && f.slot.answered(f.ask as Ask, decision)) {
      f.done = true; // refused: our 429
      return;
    }
    const next = f.slot.ready(t);
    if (next.kind === "send") {
      arrivals.push(t + f.call.toFinch);
      f.done = true;
    } else if (next.kind === "late") {
      release(f, next.giveBack, t);
      f.done = true; // 503 finch_budget_unavailable
    } else ask(f, next.ask, t);
  };
  for (const call of run.calls) push({ t: call.at, kind: "call", call });
  for (const t of run.resets) push({ t, kind: "reset" });
  for (let e = events.pop(); e; e = events.pop()) {
    switch (e.kind) {
      case "call": {
        const f: Flight = {
          call: e.call,
          slot: new CallSlot(book(e.call.isolate), key(e.call)),
          asks: 0,
          ask: undefined,
          answer: undefined,
          tokenIn: false,
          done: false,
        };
        const first = f.slot.start(e.t);
        if (first) ask(f, first, e.t);
        push({ t: e.t + e.call.tokenRead, kind: "token", f });
        break;
      }
      case "token":
        e.f.tokenIn = true;
        proceed(e.f, e.t);
        break;
      case "acquire": {
        const decision = window.acquire(e.t, {
          connectionId: String(e.f.call.connection),
          limit: run.limit,
          windowMs,
          fairShare: run.fairShare,
          want: e.ask.want,
          holdMs: LEASE_HOLD_MS,
          giveBack: e.ask.giveBack,
        });
        push({ t: e.t + (e.f.call.fromObject[e.f.asks - 1] ?? 0), kind: "answer", f: e.f, decision });
        break;
      }
      case "answer":
        e.f.answer = e.decision;
        proceed(e.f, e.t);
        break;
      case "release":
        window.release(String(e.connection), e.grant);
        break;
      case "reset":
        window = new SlidingWindow(store);
        break;
    }
  }
  return arrivals.sort((a, b) => a - b);
}

/** Events by time, ties in the order they were pushed (a binary heap: schedules run to thousands of calls). */
class EventQueue<E extends { t: number }> {
  readonly #heap: { e: E; seq: number }[] = [];
  #seq = 0;

  push(e: E): void {
    const heap = this.#heap;
    heap.push({ e, seq: this.#seq++ });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Entry<E>, heap[parent] as Entry<E>)) break;
      [heap[i], heap[parent]] = [heap[parent] as Entry<E>, heap[i] as Entry<E>];
      i = parent;
    }
  }

  pop(): E | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (!top || !last) return undefined;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l] as Entry<E>, heap[m] as Entry<E>)) m = l;
        if (r < heap.length && before(heap[r] as Entry<E>, heap[m] as Entry<E>)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Entry<E>, heap[i] as Entry<E>];
        i = m;
      }
    }
    return top.e;
  }
}

type Entry<E> = { e: E & { t: number }; seq: number };
const before = <E extends { t: number }>(a: Entry<E>, b: Entry<E>) =>
  a.e.t < b.e.t || (a.e.t === b.e.t && a.seq < b.seq);

/** The most arrivals in any Finch window [t, t + FINCH_RATE_WINDOW_MS). */
export function busiestWindow(arrivals: readonly number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while ((arrivals[j] as number) <= (arrivals[i] as number) - FINCH_RATE_WINDOW_MS) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

export { MAX_ASKS };
