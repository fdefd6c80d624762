/**
 * The run's stop: the signal (SIGTERM through the CLI), and the shutdown grace that bounds
 * how long sends in flight may settle after it. Both are watched here and nowhere else.
 */

export const STOPPED: unique symbol = Symbol("stopped");

export class RunStop {
  constructor(
    readonly signal: AbortSignal | undefined,
    /** After the stop, how long the run may take to settle. @default - no bound */
    private readonly graceMs?: number,
  ) {}

  get stopped(): boolean {
    return this.signal?.aborted === true;
  }

  /** `p`, or STOPPED as soon as the stop comes (`p` is left to finish unobserved). */
  untilStopped<T>(p: Promise<T>): Promise<T | typeof STOPPED> {
    const signal = this.signal;
    if (!signal) return p;
    if (signal.aborted) {
      p.catch(() => undefined);
      return Promise.resolve(STOPPED);
    }
    return new Promise<T | typeof STOPPED>((resolve, reject) => {
      const onAbort = () => resolve(STOPPED);
      signal.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  }

  /**
   * `work`, or `onGraceOver()` when the stop came and `work` did not end within the grace
   * (the work is left to finish unobserved: the process exits after the summary).
   */
  async withinGrace<T>(work: Promise<T>, onGraceOver: () => T): Promise<T> {
    const signal = this.signal;
    if (!signal || this.graceMs === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const start = () => void (timer = setTimeout(() => resolveGrace(onGraceOver()), this.graceMs));
    let resolveGrace!: (v: T) => void;
    const graceOver = new Promise<T>((resolve) => (resolveGrace = resolve));
    if (signal.aborted) start();
    else signal.addEventListener("abort", start, { once: true });
    try {
      return await Promise.race([work, graceOver]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", start);
      work.catch(() => undefined);
    }
  }
}
