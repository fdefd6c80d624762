/**
 * Rollback simulation (not a test): how often the automatic SES rollback trips, by list
 * size and true SES failure rate, for the sender's sequential test (app/src/rollback.ts,
 * the real class) and, as the baseline measured in the same run, the rule it replaced
 * (failure rate above 5% once at least 20 outcomes are in).
 *
 *   npm run bench:rollback            10,000 seeded runs per cell
 *   npm run bench:rollback -- --runs 2000 --seed 7
 *
 * Each simulated run is one digest run: N recipients, each SES outcome a failure with
 * probability p, drawn from a seeded generator, all inside the 10-minute window (1,000
 * sends at SES's usual 14/s take 71 s). A trip at p <= 2% is a false trip; no trip at
 * p >= 10% is a missed trip; 5% is the bound itself (either answer is defensible).
 * `simulateRollback` returns the rows, for a combined bench table.
 */
import { SesFailureTest } from "../app/src/rollback";
import { seededRandom } from "../test/support/seeded-random";

export const SIM_SIZES = [1, 10, 100, 1000] as const;
export const SIM_RATES = [0, 0.02, 0.05, 0.1, 0.2] as const;

export interface SimulationRow {
  readonly recipients: number;
  readonly failureRate: number;
  readonly rule: "sprt" | "baseline";
  /** Share of runs that tripped. */
  readonly tripRate: number;
  /** Share of runs that tripped within the first third of their sends. */
  readonly tripBeforeThird: number;
  /** Median SES outcome at which it tripped (of the runs that did). */
  readonly medianTripAt?: number;
}

/** The replaced rule: failure rate strictly above 5% with at least 20 outcomes. */
class BaselineRule {
  private n = 0;
  private f = 0;
  record(ok: boolean): boolean {
    this.n++;
    if (!ok) this.f++;
    return this.n >= 20 && this.f / this.n > 0.05;
  }
}

export function simulateRollback(opts: { runs?: number; seed?: number; sizes?: readonly number[]; rates?: readonly number[] } = {}): SimulationRow[] {
  const runs = opts.runs ?? 10_000;
  const rows: SimulationRow[] = [];
  for (const rule of ["sprt", "baseline"] as const) {
    for (const n of opts.sizes ?? SIM_SIZES) {
      for (const p of opts.rates ?? SIM_RATES) {
        // The same seed per cell for both rules: they judge the same failure sequences.
        const random = seededRandom((opts.seed ?? 13) * 1_000_003 + n * 101 + Math.round(p * 1000));
        const at: number[] = [];
        let early = 0;
        for (let r = 0; r < runs; r++) {
          const test = rule === "sprt" ? new SesFailureTest({ now: () => 0 }) : undefined;
          const base = rule === "baseline" ? new BaselineRule() : undefined;
          for (let i = 1; i <= n; i++) {
            const ok = random() >= p;
            const tripped = test ? test.record(ok).tripped : base!.record(ok);
            if (tripped) {
              at.push(i);
              if (i <= n / 3) early++;
              break;
            }
          }
        }
        at.sort((a, b) => a - b);
        rows.push({ recipients: n, failureRate: p, rule, tripRate: at.length / runs, tripBeforeThird: early / runs, ...(at.length ? { medianTripAt: at[Math.floor(at.length / 2)] } : {}) });
      }
    }
  }
  return rows;
}

/**
 * The tables docs/operations.md carries: per list size (rows) and true failure rate
 * (columns), the share of runs that trip (the old rule's in parentheses), then the share
 * that trip within the first third of their sends and the median SES outcome they trip at.
 */
export function simulationTable(rows: readonly SimulationRow[], runs: number): string {
  const pct = (x: number) => (x === 0 ? "0" : x === 1 ? "100%" : x < 0.01 ? `${(x * 100).toFixed(2)}%` : `${(x * 100).toFixed(1)}%`);
  const sizes = [...new Set(rows.map((r) => r.recipients))];
  const rates = [...new Set(rows.map((r) => r.failureRate))];
  const cell = (rule: SimulationRow["rule"], n: number, p: number) => rows.find((r) => r.rule === rule && r.recipients === n && r.failureRate === p)!;
  const head = `| recipients | ${rates.map((p) => `${p * 100}%`).join(" | ")} |\n|---|${rates.map(() => "---").join("|")}|`;
  const trips = sizes.map((n) => `| ${n} | ${rates.map((p) => `${pct(cell("sprt", n, p).tripRate)} (${pct(cell("baseline", n, p).tripRate)})`).join(" | ")} |`);
  const early = sizes.map((n) => `| ${n} | ${rates.map((p) => { const c = cell("sprt", n, p); return c.medianTripAt ? `${pct(c.tripBeforeThird)}, median ${c.medianTripAt}` : "-"; }).join(" | ")} |`);
  return [
    `Runs that trip, of ${runs.toLocaleString("en-US")} per cell: the sequential test (the old rule, >5% with >=20 outcomes, in parentheses). At 0% and 2% this is the false-trip rate; at 10% and 20%, 100% minus it is the missed-trip rate.`,
    "",
    head,
    ...trips,
    "",
    "The sequential test: runs that trip within the first third of their sends, and the median SES outcome at which runs trip.",
    "",
    head,
    ...early,
  ].join("\n");
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const runs = flag("--runs") ?? 10_000;
  const seed = flag("--seed") ?? 13;
  process.stderr.write(`simulating ${runs} runs per cell (seed ${seed}) ...\n`);
  const t0 = Date.now();
  const rows = simulateRollback({ runs, seed });
  process.stdout.write(`${simulationTable(rows, runs)}\n`);
  process.stderr.write(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
