/**
 * `npm run bench`: every benchmark of #15 in one command and one Markdown table, each
 * figure beside its baseline measured in the same run, interleaved (A, B, A, B, ...), as the
 * median of the rounds with min-max. The rows come from the benchmark modules beside this
 * file (synth.ts, cold-start.ts, sender.ts, memory.ts, rollback-simulation.ts); this file
 * only runs them, describes the machine and renders the table.
 *
 *   npm run bench                                   all rows (~6-10 min on 2 cores)
 *   npm run bench -- --only synth --rounds 5        one row, more rounds
 *   npm run bench -- --out bench/RESULTS.md         also write the Markdown document
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Option } from "commander";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, type CliIo, type Output } from "../app/src/cli-kit";
import { measureColdStart, type ColdStartResult } from "./cold-start";
import { fmtStats, ratio, type Stats } from "./lib/measure";
import { measureMemory, RECOMMENDED_TASK_NODE_OPTIONS, type MemoryResult } from "./memory";
import { SIM_RATES, simulateRollback, type SimulationRow } from "./rollback-simulation";
import { measureFeeds, measureSends, type FeedsResult, type SendsResult } from "./sender";
import { measureSynth, oursCommand, type SynthResult } from "./synth";

const ROOT = path.resolve(__dirname, "..");

export const ROWS = ["synth", "cold-start", "feeds", "sends", "memory", "rollback"] as const;
export type Row = (typeof ROWS)[number];

/** Rounds per row when --rounds is not given: about 6-10 minutes in all on 2 cores. */
export const DEFAULT_ROUNDS: Readonly<Record<Row, number>> = { synth: 3, "cold-start": 7, feeds: 7, sends: 3, memory: 1, rollback: 1 };

/** The code before the memory work of #15 (the parent of the commit that made bodies lazy). */
export const MEMORY_BASELINE = "c830ded^";
const MEMORY_SIZES = [100, 1000, 10_000];
const ROLLBACK_RUNS = 10_000;

interface Machine {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly os: string;
  readonly node: string;
  readonly terraform: string;
  readonly moto: string;
  readonly commit: string;
}

function quiet(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 30_000 }).trim();
  } catch {
    return "?";
  }
}

export function describeMachine(): Machine {
  const cpuinfo = fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : "";
  const osRelease = fs.existsSync("/etc/os-release") ? fs.readFileSync("/etc/os-release", "utf8") : "";
  const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "node", "package.json"), "utf8")) as { version: string };
  const tfEnv = { ...process.env };
  delete tfEnv.TF_CLI_CONFIG_FILE; // a config file this machine may not have only adds a warning
  const tf = quiet("terraform", ["version", "-json"], tfEnv);
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "?",
    cores: os.availableParallelism(),
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${/^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? os.type()}, kernel ${os.release()}`,
    node: `${process.version} (node_modules' node ${pinned.version})`,
    terraform: tf.startsWith("{") ? (JSON.parse(tf) as { terraform_version: string }).terraform_version : "?",
    moto: quiet("python3", ["-c", "import moto; print(moto.__version__)"]),
    commit: quiet("git", ["rev-parse", "--short", "HEAD"]) + (quiet("git", ["status", "--porcelain", "--untracked-files=no"]) ? " (with uncommitted changes)" : ""),
  };
}

/** The task definition's NODE_OPTIONS, from the synthesized prod stack (our synth into .tmp/). */
export function taskNodeOptions(): string | undefined {
  const outdir = fs.mkdtempSync(path.join(ROOT, ".tmp", "bench-taskdef-"));
  try {
    execFileSync(process.execPath, oursCommand(), { cwd: ROOT, env: { ...process.env, CDKTF_OUTDIR: outdir }, stdio: "ignore", timeout: 120_000 });
    const json = JSON.parse(fs.readFileSync(path.join(outdir, "stacks", "vibe-digest-prod", "cdk.tf.json"), "utf8")) as { resource?: { aws_ecs_task_definition?: Record<string, { container_definitions: string }> } };
    for (const td of Object.values(json.resource?.aws_ecs_task_definition ?? {})) {
      for (const c of JSON.parse(td.container_definitions) as { environment?: { name: string; value: string }[] }[]) {
        const v = c.environment?.find((e) => e.name === "NODE_OPTIONS")?.value;
        if (v) return v;
      }
    }
    return undefined;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

interface Results {
  synth?: SynthResult;
  coldStart?: ColdStartResult;
  feeds?: FeedsResult;
  sends?: SendsResult;
  memory?: { result: MemoryResult; nodeOptions: string; fromTaskDefinition: boolean; baseline: string };
  rollback?: SimulationRow[];
}

type Cell = { what: string; ours: string; baseline: string; vs: string; target: string; met: string };

const s = (x: Stats, digits = 2) => fmtStats({ ...x, median: x.median / 1000, min: x.min / 1000, max: x.max / 1000 }, "s", digits);
const ms = (x: Stats) => fmtStats(x, "ms");
const mb = (x: Stats) => fmtStats(x, "MB");
const yes = (ok: boolean) => (ok ? "yes" : "**no**");

function cells(r: Results): Cell[] {
  const out: Cell[] = [];
  if (r.synth) {
    const { ours, rebuilt, stock } = r.synth;
    const faster = stock.ms.median / ours.ms.median;
    const leaner = stock.rssMb.median / ours.rssMb.median;
    out.push({ what: "1. synth of all 5 stacks: time", ours: s(ours.ms), baseline: `${s(stock.ms, 1)} (stock: ts-node, package-root import)`, vs: `${faster.toFixed(1)}x faster`, target: ">= 25x faster", met: yes(faster >= 25) });
    out.push({ what: "1. synth: peak RSS (process tree)", ours: mb(ours.rssMb), baseline: mb(stock.rssMb), vs: `${leaner.toFixed(1)}x leaner`, target: ">= 15x leaner", met: yes(leaner >= 15) });
    out.push({ what: "1. synth after a source change (bundle rebuilt)", ours: `${s(rebuilt.ms)}, ${mb(rebuilt.rssMb)}`, baseline: "stock, as above", vs: `${ratio(stock.ms, rebuilt.ms)} faster, ${ratio(stock.rssMb, rebuilt.rssMb)} leaner`, target: "-", met: "-" });
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push({ what: "2. cold start to the first Parameter Store request", ours: `${ms(c.bundle)} (bundle, plain node)`, baseline: `${ms(c.tsx)} (tsx app/src/cli.ts)`, vs: `${ratio(c.tsx, c.bundle)} faster`, target: "-", met: "-" });
  }
  if (r.feeds) {
    const f = r.feeds;
    out.push({ what: `3. ${f.feeds} feeds, each answering after ${f.delayMs} ms`, ours: `${ms(f.sender)} (the sender's fetch)`, baseline: `${ms(f.floor)} (the slowest single feed)`, vs: `${ratio(f.sender, f.floor)} the floor`, target: "-", met: "-" });
    out.push({ what: "3. feeds: against a pool of 5", ours: ms(f.sender), baseline: `${ms(f.pool5)} (5 at once)`, vs: `${ratio(f.pool5, f.sender)} faster`, target: "-", met: "-" });
    out.push({ what: "3. feeds: all at once (for comparison)", ours: ms(f.sender), baseline: `${ms(f.all)} (${f.feeds} at once)`, vs: `${ratio(f.sender, f.all)} its time`, target: "-", met: "-" });
  }
  if (r.sends) {
    const x = r.sends;
    const pct = (st: Stats) => `${((st.median / x.maxSendRate) * 100).toFixed(1)}% of ${x.maxSendRate}/s`;
    const rate = (st: Stats) => fmtStats(st, "/s", 1);
    out.push({ what: `4. sends, ${x.recipients} recipients, ${x.latencyMs} ms per AWS call, with the ledger`, ours: rate(x.ledger), baseline: `MaxSendRate ${x.maxSendRate}/s`, vs: pct(x.ledger), target: ">= 95%", met: yes(x.ledger.median >= 0.95 * x.maxSendRate) });
    out.push({ what: "4. sends, without the ledger", ours: rate(x.noLedger), baseline: `MaxSendRate ${x.maxSendRate}/s`, vs: pct(x.noLedger), target: ">= 95%", met: yes(x.noLedger.median >= 0.95 * x.maxSendRate) });
    out.push({ what: "4. sends with the ledger, no added latency (the emulator's ceiling)", ours: rate(x.ledgerNoLatency), baseline: `MaxSendRate ${x.maxSendRate}/s`, vs: pct(x.ledgerNoLatency), target: "-", met: "-" });
  }
  if (r.memory) {
    const { result, baseline } = r.memory;
    const sizes = [...new Set(result.runs.map((x) => x.recipients))];
    for (const n of sizes) {
      const cur = result.runs.find((x) => x.code === "current" && x.recipients === n)!;
      const base = result.runs.find((x) => x.code === baseline && x.recipients === n);
      const show = (x: typeof cur | undefined) => (!x ? "-" : x.outOfMemory ? "out of memory (heap limit)" : `${x.peakRssMb.toFixed(1)} MB (${x.sent.toLocaleString("en-US")} sent in ${x.durationS} s)`);
      const vs = !base ? "-" : base.outOfMemory && !cur.outOfMemory ? "runs where the baseline does not" : cur.outOfMemory ? "-" : `${(cur.peakRssMb / base.peakRssMb).toFixed(2)}x`;
      const gated = n >= 1000;
      out.push({ what: `5. peak RSS of a whole run, ${n.toLocaleString("en-US")} recipients`, ours: show(cur), baseline: `${show(base)} (${baseline})`, vs, target: gated ? "< 150 MB" : "-", met: gated ? yes(!cur.outOfMemory && cur.peakRssMb < 150) : "-" });
    }
  }
  if (r.rollback) {
    const cell = (rule: SimulationRow["rule"], p: number) => r.rollback!.find((x) => x.rule === rule && x.recipients === 1000 && x.failureRate === p)!;
    const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
    out.push({
      what: "6. automatic rollback, 1,000 recipients (simulated)",
      ours: `false trips at 2% failures: ${pct(cell("sprt", 0.02).tripRate)}; missed at 10%: ${pct(1 - cell("sprt", 0.1).tripRate)}`,
      baseline: `${pct(cell("baseline", 0.02).tripRate)}; ${pct(1 - cell("baseline", 0.1).tripRate)} (the old >5%-of-20 rule)`,
      vs: "-",
      target: "-",
      met: "-",
    });
  }
  return out;
}

export function renderTable(r: Results): string {
  const rows = cells(r);
  return [
    "| row | ours | baseline (same run) | ours vs baseline | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((c) => `| ${c.what} | ${c.ours} | ${c.baseline} | ${c.vs} | ${c.target} | ${c.met} |`),
  ].join("\n");
}

const x = (n: number) => n.toFixed(1);

function renderDocument(m: Machine, r: Results, rounds: Readonly<Record<Row, number>>, only: readonly Row[], seconds: number): string {
  const ran = only.map((x) => `${x} ${rounds[x]}`).join(", ");
  const notes: string[] = [];
  if (r.synth) {
    notes.push(
      `- **Synth** (\`bench/synth.ts\`): ours is cdktf.json's \`app\` (\`node ${oursCommand().join(" ")}\`) with the bundle cached, as on every synth after the first; "after a source change" deletes the cache first, so esbuild bundles again. The stock baseline is set up by the benchmark: ts-node ${r.synth.setup.tsNode.match(/ts-node-([\d.]+)/)?.[1] ?? ""} from the npm registry in \`.tmp/bench-cache/\`, and a copy of main.ts and the ${r.synth.setup.files} files it imports in which the ${r.synth.setup.rewritten} files with provider imports import the provider from the package root; it type-checks, as the cdktf template's \`ts-node main.ts\` does. What sets ours' floor: docs/design.md ("Performance"). Both synthesized the same ${r.synth.stacks.length} stacks (${r.synth.stacks.join(", ")} resources; cdk.tf.json compared without cdktf's metadata block) before timing. Peak RSS is the largest sum over the process tree (sampled every 10 ms, and each node process's own peak).`,
    );
  }
  if (r.coldStart) notes.push(`- **Cold start** (\`bench/cold-start.ts\`): from spawning the process to the first request (${r.coldStart.target}) reaching a loopback server playing SSM; the bundle is \`npm run bundle\`'s ${r.coldStart.bundleKb} KiB file under this Node, the baseline \`node node_modules/tsx/dist/cli.mjs app/src/cli.ts run\` (what \`npm run digest -- run\` runs, without npm).`);
  if (r.feeds) notes.push(`- **Feeds** (\`bench/sender.ts\`): the sender's FeedFetcher as the CLI wires it (its default concurrency), fetching and parsing ${r.feeds.feeds} loopback feeds; the floor is one feed alone. A pool of 5 and all ${r.feeds.feeds} at once are the same class with that concurrency.`);
  if (r.sends) notes.push(`- **Sends** (\`bench/sender.ts\`): a whole run as the CLI wires it, SES only, against moto behind the fault proxy (no faults) holding every AWS request ${r.sends.latencyMs} ms and answering GetSendQuota with MaxSendRate ${r.sends.maxSendRate}; the rate is (sends - 1) / (last - first SES request). With the ledger every recipient also costs ${x(r.sends.ledgerCallsPerRecipient)} DynamoDB requests on moto, through the same latency; the same run without the added latency shows how many of those moto (one Python process) serves on this machine: when it is no faster than with the latency, the latency is not what limits the rate.`);
  if (r.memory) notes.push(`- **Memory** (\`bench/memory.ts\`): each run in its own process (the bundled sender, wired by the CLI's code) with the DynamoDB ledger, 30 feeds, the whole list on SES at 50/s, NODE_OPTIONS \`${r.memory.nodeOptions}\` (${r.memory.fromTaskDefinition ? "the task definition's" : "the task definition sets none: the heap settings docs/operations.md recommends"}); the 1,000-recipient cap lifted for the benchmark only. The baseline is the code before the memory work (\`${MEMORY_BASELINE}\`, app/src via git archive). Slope (KB of peak per added recipient): ${Object.entries(r.memory.result.slopeKbPerRecipient).map(([k, v]) => `${k} ${v}`).join(", ") || "-"}.`);
  if (r.rollback) notes.push(`- **Rollback** (\`bench/rollback-simulation.ts\`, ${ROLLBACK_RUNS.toLocaleString("en-US")} seeded runs per cell): the sequential test against the rule it replaced; \`npm run bench:rollback\` prints every list size and rate.`);
  return [
    "# Benchmark results",
    "",
    "Written by `npm run bench -- --out bench/RESULTS.md` (bench/bench.ts). Every figure is the median of its rounds with min-max, and every ratio is against a baseline measured in the same run, the variants interleaved (A, B, A, B, ...): this machine is shared (other test runs and terraform applies may have been running at the same time on its 2 cores), so absolute times vary between runs while ratios measured side by side hold better.",
    "",
    `- date: ${m.date}, commit ${m.commit}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB memory; ${m.os}`,
    `- Node ${m.node}, Terraform ${m.terraform}, moto ${m.moto}`,
    `- rounds: ${ran}; the whole run took ${(seconds / 60).toFixed(1)} min`,
    "",
    renderTable(r),
    "",
    "How each row is measured:",
    "",
    ...notes,
    "",
  ].join("\n");
}

function parseRounds(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new CliError("USAGE", "--rounds takes a whole number from 1 to 50", EXIT.usage);
  return n;
}

/** The `bench` command line (one convention: app/src/cli-kit.ts). */
export function benchCli(io: CliIo = processIo()): Cli {
  const cli = new Cli("bench", {
    invocation: "npm run bench --",
    description:
      "Run the benchmarks of the performance issue (#15) and print one Markdown table: synth against the stock cdktf way, the sender's cold start against tsx, " +
      "feeds against the slowest single feed and a pool of 5, sends against MaxSendRate behind an 80 ms latency, peak RSS against the code before the memory work, " +
      "and the rollback simulation. Every baseline is measured in the same run, interleaved; medians with min-max. Talks to 127.0.0.1 only (moto, feed servers, " +
      "a fault proxy it starts and stops), except that the synth row installs ts-node from the npm registry into .tmp/bench-cache once.",
    exitCodes: [
      { code: EXIT.ok, meaning: "measured (whether or not each target is met: see the table's last column)" },
      { code: EXIT.config, meaning: "--out cannot be written (OUT_UNWRITABLE)" },
      STANDARD_EXIT_DOCS.internal,
      STANDARD_EXIT_DOCS.usage,
    ],
    examples: ["npm run bench", "npm run bench -- --only synth --rounds 5", "npm run bench -- --out bench/RESULTS.md"],
  }, io);
  cli.program
    .usage("[options]")
    .addOption(new Option("--only <row>", "run one row").choices([...ROWS]))
    .option("--rounds <n>", `rounds for every row (default per row: ${ROWS.map((r) => `${r} ${DEFAULT_ROUNDS[r]}`).join(", ")})`, parseRounds)
    .option("--out <file>", "also write the Markdown document (machine, table, how each row is measured) to this file");
  cli.action<{ json?: boolean; only?: Row; rounds?: number; out?: string }>(cli.program, async ({ out, opts }) => {
    const only = opts.only ? [opts.only] : [...ROWS];
    const rounds = Object.fromEntries(ROWS.map((r) => [r, opts.rounds ?? DEFAULT_ROUNDS[r]])) as Record<Row, number>;
    const t0 = Date.now();
    const machine = describeMachine();
    out.info(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; ${machine.os}; Node ${machine.node}; Terraform ${machine.terraform}; moto ${machine.moto}`);
    const results = await runRows(only, rounds, out);
    const doc = renderDocument(machine, results, rounds, only, (Date.now() - t0) / 1000);
    if (opts.out) {
      const file = path.resolve(process.env.INIT_CWD || process.cwd(), opts.out);
      try {
        fs.writeFileSync(file, doc);
      } catch (err) {
        throw new CliError("OUT_UNWRITABLE", `cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`, EXIT.config);
      }
      out.info(`wrote ${path.relative(process.cwd(), file)}`);
    }
    out.result({ ok: true, machine, results, markdown: doc, exitCode: EXIT.ok }, doc);
    return EXIT.ok;
  });
  return cli;
}

async function runRows(only: readonly Row[], rounds: Readonly<Record<Row, number>>, out: Output): Promise<Results> {
  const results: Results = {};
  const step = (row: Row) => (line: string) => out.info(`${row}: ${line}`);
  fs.mkdirSync(path.join(ROOT, ".tmp"), { recursive: true });
  for (const row of only) {
    const t = Date.now();
    out.info(`${row}: starting (${rounds[row]} round${rounds[row] === 1 ? "" : "s"})`);
    if (row === "synth") results.synth = await measureSynth(rounds.synth, step(row));
    if (row === "cold-start") results.coldStart = await measureColdStart(rounds["cold-start"], step(row));
    if (row === "feeds") results.feeds = await measureFeeds(rounds.feeds, step(row));
    if (row === "sends") results.sends = await measureSends(rounds.sends, step(row));
    if (row === "memory") {
      const fromTask = taskNodeOptions();
      const nodeOptions = fromTask ?? RECOMMENDED_TASK_NODE_OPTIONS;
      if (!fromTask) out.warn(`memory: the task definition sets no NODE_OPTIONS; measuring with the recommended ${nodeOptions}`);
      const runs: MemoryResult[] = [];
      for (let i = 1; i <= rounds.memory; i++) {
        if (rounds.memory > 1) out.info(`memory: round ${i}/${rounds.memory}`);
        runs.push(await measureMemory({ sizes: MEMORY_SIZES, baselineRef: MEMORY_BASELINE, nodeOptions, sesPercent: 100, log: step(row) }));
      }
      results.memory = { result: medianMemory(runs), nodeOptions, fromTaskDefinition: fromTask !== undefined, baseline: MEMORY_BASELINE };
    }
    if (row === "rollback") results.rollback = simulateRollback({ runs: ROLLBACK_RUNS, sizes: [1000], rates: SIM_RATES });
    out.info(`${row}: done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  return results;
}

/** Several memory rounds as one: per code and size, the run with the median peak. */
function medianMemory(rounds: MemoryResult[]): MemoryResult {
  if (rounds.length === 1) return rounds[0]!;
  const first = rounds[0]!;
  const runs = first.runs.map((r) => {
    const same = rounds.map((x) => x.runs.find((y) => y.code === r.code && y.recipients === r.recipients)!).sort((a, b) => (a.peakRssMb || Infinity) - (b.peakRssMb || Infinity));
    return same[Math.floor(same.length / 2)]!;
  });
  return { runs, slopeKbPerRecipient: first.slopeKbPerRecipient };
}

if (require.main === module) {
  benchCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
