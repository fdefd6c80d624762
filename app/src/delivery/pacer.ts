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

/**
 * Starts callers on a grid `intervalMs` apart, in call order. A slot is the reserved time,
 * not the moment its caller's timer fired: a timer that fires late (by up to half an
 * interval) does not push every later slot back, so the average rate is the provider's own
 * instead of drifting a few percent under it. A slot missed by more than that (an idle spell)
 * restarts the grid at now, so nothing is made up in a burst: two starts are never closer
 * than half an interval, and any second holds at most the rate's starts.
 */
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
          const slot = t - this.next <= this.intervalMs / 2 ? this.next : t;
          this.next = slot + this.intervalMs;
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
