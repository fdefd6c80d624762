/**
 * What every benchmark here shares: running variants interleaved (A, B, A, B, ...) so a
 * machine that gets busier or quieter during a run affects each variant alike, the median
 * with min-max of the rounds, and a child process measured for wall time and the peak
 * resident memory of its whole process tree.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Median, min and max of some rounds. */
export interface Stats {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function stats(xs: readonly number[]): Stats {
  if (xs.length === 0) throw new Error("no samples");
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** "1.23 s (1.10-1.40)": the median and, over more than one round, the range. */
export function fmtStats(s: Stats, unit: string, digits = 0): string {
  const f = (x: number) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return s.n > 1 ? `${f(s.median)} ${unit} (${f(s.min)}-${f(s.max)})` : `${f(s.median)} ${unit}`;
}

/** "13.8x": how many times `a` is `b`, from the medians. */
export function ratio(a: Stats | number, b: Stats | number, digits = 1): string {
  const x = (typeof a === "number" ? a : a.median) / (typeof b === "number" ? b : b.median);
  return `${x.toFixed(digits)}x`;
}

export interface Step<K> {
  readonly round: number;
  readonly rounds: number;
  readonly variant: K;
}

/**
 * Runs every variant once per round, in the same order each round (A, B, A, B, ...), and
 * returns each variant's samples. `before` and `after` are told of each step (progress).
 */
export async function interleave<K extends string, T>(
  rounds: number,
  variants: Readonly<Record<K, () => Promise<T>>>,
  progress: { before?: (step: Step<K>) => void; after?: (step: Step<K>, sample: T) => void } = {},
): Promise<Record<K, T[]>> {
  const names = Object.keys(variants) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as T[]])) as Record<K, T[]>;
  for (let round = 1; round <= rounds; round++) {
    for (const variant of names) {
      progress.before?.({ round, rounds, variant });
      const sample = await variants[variant]();
      out[variant].push(sample);
      progress.after?.({ round, rounds, variant }, sample);
    }
  }
  return out;
}

export interface ProcessSample {
  readonly ms: number;
  /**
   * Peak resident memory of the process and everything it started, in MB: the largest sum
   * of the tree's RSS seen while sampling every 10 ms, or the largest single process's own
   * peak (VmHWM) if that is higher (a spike between two samples).
   */
  readonly peakRssMb: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface MeasureOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Killed (SIGKILL, by PID) after this long. @default 300000 */
  readonly timeoutMs?: number;
}

/** The PIDs of `pid` and all its descendants (Linux /proc; a process gone meanwhile is skipped). */
function processTree(pid: number, depth = 0): number[] {
  if (depth > 16) return [];
  let children: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(
        fs
          .readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
          .split(" ")
          .filter(Boolean)
          .map(Number),
      );
    }
  } catch {
    return [];
  }
  return [pid, ...children.flatMap((c) => processTree(c, depth + 1))];
}

/** VmRSS and VmHWM of one process in KB (zeros when it is gone). */
function rssOf(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * Runs a command to its end, measuring wall time from spawn to exit and the peak RSS of its
 * process tree (see {@link ProcessSample}). Node processes in the tree also report their
 * own peak at exit through bench/rss-probe.cjs (NODE_OPTIONS --require), which catches a
 * last spike the sampler could miss.
 */
export function measureProcess(cmd: string, args: readonly string[], opts: MeasureOptions): Promise<ProcessSample> {
  const probe = path.join(__dirname, "..", "rss-probe.cjs");
  const nodeOptions = [opts.env.NODE_OPTIONS, `--require ${probe}`].filter(Boolean).join(" ");
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, [...args], { cwd: opts.cwd, env: { ...opts.env, NODE_OPTIONS: nodeOptions }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => void (stdout = (stdout + d.toString()).slice(-20_000)));
    child.stderr.on("data", (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-20_000)));
    let peakKb = 0;
    const sample = () => {
      if (!child.pid) return;
      let sum = 0;
      for (const p of processTree(child.pid)) {
        const r = rssOf(p);
        sum += r.rss;
        peakKb = Math.max(peakKb, r.hwm);
      }
      peakKb = Math.max(peakKb, sum);
    };
    const sampler = setInterval(sample, 10);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
    child.once("error", (err) => {
      clearInterval(sampler);
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      const ms = performance.now() - started;
      clearInterval(sampler);
      clearTimeout(timer);
      const probed = [...stderr.matchAll(/BENCH_MAX_RSS_KB=(\d+)/g)].map((m) => Number(m[1]));
      peakKb = Math.max(peakKb, ...probed);
      resolve({ ms, peakRssMb: peakKb / 1024, code, stdout, stderr: stderr.replace(/\n?BENCH_MAX_RSS_KB=\d+\n/g, "") });
    });
  });
}
