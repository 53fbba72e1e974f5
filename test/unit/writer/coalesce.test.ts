import { describe, expect, it } from "vitest";
import { Coalescer } from "../../../src/writer/coalesce";

/**
 * The Coalescer's promise (src/writer/coalesce.ts): one run at a time; a call made during a
 * run waits for the next run rather than sharing the one in flight; every call made during
 * one flight shares that next run, arguments merged; errors reach every sharer. The task is
 * driven by hand: each run waits until the test settles it.
 */
interface Run {
  arg: string[];
  resolve: (value: string) => void;
  reject: (error: Error) => void;
}

function harness(merge?: (queued: string[], joining: string[]) => string[]) {
  const runs: Run[] = [];
  let active = 0;
  let maxActive = 0;
  const coalescer = new Coalescer<string[], string>(async (arg) => {
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      return await new Promise<string>((resolve, reject) => runs.push({ arg, resolve, reject }));
    } finally {
      active--;
    }
  }, merge);
  return { coalescer, runs, maxActive: () => maxActive };
}

const settle = () => new Promise((r) => setTimeout(r, 0));
const concat = (queued: string[], joining: string[]) => [...queued, ...joining];

describe("Coalescer", () => {
  it("a call with nothing in flight starts a run at once, with its argument", async () => {
    const { coalescer, runs } = harness();
    let shared = false;
    const a = coalescer.run(["a"], () => {
      shared = true;
    });
    expect(runs.map((r) => r.arg)).toEqual([["a"]]);
    runs[0]?.resolve("one");
    expect(await a).toBe("one");
    expect(shared).toBe(false);
  });

  it("a call during a run does not get that run's answer: it waits for the next run", async () => {
    const { coalescer, runs } = harness();
    const first = coalescer.run(["a"]);
    const second = coalescer.run(["b"]);
    await settle();
    expect(runs).toHaveLength(1);
    runs[0]?.resolve("one");
    expect(await first).toBe("one");
    await settle();
    expect(runs.map((r) => r.arg)).toEqual([["a"], ["b"]]);
    runs[1]?.resolve("two");
    expect(await second).toBe("two");
  });

  it("every call made during one flight shares one next run, and is told it shares", async () => {
    const { coalescer, runs } = harness();
    let told = 0;
    const onShare = () => {
      told++;
    };
    coalescer.run(["a"], onShare);
    const joined = [coalescer.run(["b"], onShare), coalescer.run(["c"], onShare), coalescer.run(["d"], onShare)];
    expect(told).toBe(3);
    expect(joined[1]).toBe(joined[0]);
    expect(joined[2]).toBe(joined[0]);
    runs[0]?.resolve("one");
    await settle();
    expect(runs).toHaveLength(2);
    runs[1]?.resolve("two");
    expect(await Promise.all(joined)).toEqual(["two", "two", "two"]);
    await settle();
    expect(runs).toHaveLength(2);
  });

  it("the shared run takes the first joiner's argument by default", async () => {
    const { coalescer, runs } = harness();
    coalescer.run(["a"]);
    coalescer.run(["b"]);
    coalescer.run(["c"]);
    runs[0]?.resolve("one");
    await settle();
    expect(runs[1]?.arg).toEqual(["b"]);
  });

  it("the shared run takes the joiners' arguments merged, in call order", async () => {
    const { coalescer, runs } = harness(concat);
    coalescer.run(["a"]);
    coalescer.run(["b"]);
    coalescer.run(["c"]);
    coalescer.run(["d"]);
    runs[0]?.resolve("one");
    await settle();
    expect(runs[1]?.arg).toEqual(["b", "c", "d"]);
  });

  it("never runs the task twice at once, and runs it less often than it is called", async () => {
    const h = harness(concat);
    const calls: Promise<string>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(h.coalescer.run([`c${i}`]), h.coalescer.run([`d${i}`]));
      await settle();
      h.runs.at(-1)?.resolve(`r${i}`); // whichever run is in flight
    }
    for (let i = 0; i < 3; i++) {
      await settle();
      h.runs.at(-1)?.resolve("last");
    }
    await Promise.all(calls);
    expect(h.maxActive()).toBe(1);
    expect(h.runs.length).toBeLessThan(calls.length);
  });

  it("an error of the shared run reaches every caller that shares it", async () => {
    const { coalescer, runs } = harness();
    coalescer.run(["a"]);
    const joined = [coalescer.run(["b"]), coalescer.run(["c"])];
    runs[0]?.resolve("one");
    await settle();
    runs[1]?.reject(new Error("finch down"));
    for (const p of joined) await expect(p).rejects.toThrow("finch down");
  });

  it("an error of the run in flight reaches its caller only; the queued run still starts", async () => {
    const { coalescer, runs } = harness();
    const first = coalescer.run(["a"]);
    const second = coalescer.run(["b"]);
    runs[0]?.reject(new Error("first failed"));
    await expect(first).rejects.toThrow("first failed");
    await settle();
    expect(runs.map((r) => r.arg)).toEqual([["a"], ["b"]]);
    runs[1]?.resolve("two");
    expect(await second).toBe("two");
  });

  it("a call after a run completed starts a new run, not the old answer", async () => {
    const { coalescer, runs } = harness();
    const first = coalescer.run(["a"]);
    runs[0]?.resolve("one");
    expect(await first).toBe("one");
    const later = coalescer.run(["b"]);
    expect(runs).toHaveLength(2);
    runs[1]?.resolve("two");
    expect(await later).toBe("two");
  });

  it("a call after a run failed starts a new run", async () => {
    const { coalescer, runs } = harness();
    const first = coalescer.run(["a"]);
    runs[0]?.reject(new Error("boom"));
    await expect(first).rejects.toThrow("boom");
    const later = coalescer.run(["b"]);
    expect(runs).toHaveLength(2);
    runs[1]?.resolve("two");
    expect(await later).toBe("two");
  });

  it("a call during the shared run queues another run after it", async () => {
    const { coalescer, runs } = harness(concat);
    coalescer.run(["a"]);
    const second = coalescer.run(["b"]);
    runs[0]?.resolve("one");
    await settle();
    expect(runs).toHaveLength(2);
    const third = coalescer.run(["c"]);
    expect(third).not.toBe(second);
    await settle();
    expect(runs).toHaveLength(2);
    runs[1]?.resolve("two");
    expect(await second).toBe("two");
    await settle();
    expect(runs.map((r) => r.arg)).toEqual([["a"], ["b"], ["c"]]);
    runs[2]?.resolve("three");
    expect(await third).toBe("three");
  });
});
