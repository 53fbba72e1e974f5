/**
 * Runs `task` at most once at a time. A call made while a run is in flight does not share
 * that run (it started before the call, so its answer may predate what prompted the call):
 * it waits for the next run, which every call made during the flight shares.
 */
export class Coalescer<A, T> {
  #inflight: Promise<T> | undefined;
  #queued: Promise<T> | undefined;

  constructor(private readonly task: (arg: A) => Promise<T>) {}

  /** `onShare` is told when this call rides on a run started for another. */
  run(arg: A, onShare?: () => void): Promise<T> {
    if (!this.#inflight) return this.start(arg);
    onShare?.();
    this.#queued ??= this.#inflight
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.start(arg);
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
