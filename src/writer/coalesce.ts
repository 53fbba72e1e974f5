/**
 * Runs `task` at most once at a time. A call made while a run is in flight does not share
 * that run (it started before the call, so its answer may predate what prompted the call):
 * it waits for the next run, which every call made during the flight shares, with their
 * arguments merged by `merge` (the first caller's, by default).
 */
export class Coalescer<A, T> {
  #inflight: Promise<T> | undefined;
  #queued: Promise<T> | undefined;
  #queuedArg: A | undefined;

  constructor(
    private readonly task: (arg: A) => Promise<T>,
    private readonly merge: (queued: A, joining: A) => A = (queued) => queued,
  ) {}

  /** `onShare` is told when this call rides on a run started for another. */
  run(arg: A, onShare?: () => void): Promise<T> {
    if (!this.#inflight) return this.start(arg);
    onShare?.();
    if (this.#queued) {
      this.#queuedArg = this.merge(this.#queuedArg as A, arg);
      return this.#queued;
    }
    this.#queuedArg = arg;
    this.#queued = this.#inflight
      .catch(() => undefined)
      .then(() => {
        const queuedArg = this.#queuedArg as A;
        this.#queued = undefined;
        this.#queuedArg = undefined;
        return this.start(queuedArg);
      });
    return this.#queued;
  }

  private start(arg: A): Promise<T> {
    const run = this.task(arg).finally(() => {
      if (this.#inflight === run) this.#inflight = undefined;
    });
    this.#inflight = run;
    return run;
  }
}
