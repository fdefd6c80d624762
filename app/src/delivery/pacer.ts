/**
 * Send pacing: one {@link Pacer} per provider, so each provider's starts are spaced by its
 * own rate whatever the mix of routes, fallbacks or a mid-run rollback.
 */

/** Sleeps `ms`, or less when `signal` aborts first (resolves either way). */
export function sleepUnlessStopped(sleep: (ms: number) => Promise<void>, ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    void sleep(ms).then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/** Spaces starts at least `intervalMs` apart, in call order. */
export class Pacer {
  private next = -Infinity;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly intervalMs: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  /**
   * Resolves true when the caller may start (the following slot is reserved), or false as
   * soon as `signal` aborts while it waits (nothing may start then).
   */
  acquire(signal?: AbortSignal): Promise<boolean> {
    const turn = this.chain.then(async () => {
      // Bounded: each round sleeps until the reserved time, which does not move.
      for (let i = 0; i < 10_000; i++) {
        if (signal?.aborted) return false;
        const t = this.now();
        if (t >= this.next) {
          this.next = t + this.intervalMs;
          return true;
        }
        await sleepUnlessStopped(this.sleep, this.next - t, signal);
      }
      return false;
    });
    this.chain = turn;
    return turn;
  }
}
