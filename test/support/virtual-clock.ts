/**
 * A virtual clock for pacing tests: `sleep(ms)` resolves when virtual time reaches its end,
 * and time moves on only when nothing else is pending (after the microtasks and I/O of the
 * current turn: setImmediate), to the earliest sleeper's end. So the times a test records
 * are the times the code meant, whatever the load, and no real time passes.
 */
export interface VirtualClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export function virtualClock(start = 0): VirtualClock {
  let t = start;
  const timers: { at: number; resolve: () => void }[] = [];
  let scheduled = false;
  const tick = () => {
    scheduled = false;
    if (timers.length === 0) return;
    timers.sort((a, b) => a.at - b.at);
    t = Math.max(t, timers[0].at);
    while (timers.length > 0 && timers[0].at <= t) timers.shift()!.resolve();
    schedule();
  };
  const schedule = () => {
    if (!scheduled && timers.length > 0) {
      scheduled = true;
      setImmediate(tick);
    }
  };
  return {
    now: () => t,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        timers.push({ at: t + Math.max(0, ms), resolve });
        schedule();
      }),
  };
}
