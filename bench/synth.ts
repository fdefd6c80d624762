/**
 * Synth benchmark (not a test): time and peak memory of synthesizing every stage, our way
 * (scripts/synth.mjs: esbuild strips types, plain node runs main.ts) against the baseline of
 * running main.ts through a TypeScript runner (tsx), in one run, alternating, N rounds.
 *
 *   node_modules/.bin/tsx bench/synth.ts [rounds=3]
 *
 * Prints medians and ratios (baseline / ours). The stock cdktf template's ts-node with
 * package-root imports is slower still (docs/design.md: 13-16 s, 1.3-1.7 GB); it is not installed.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const PROBE = path.join(__dirname, "rss-probe.cjs");
const rounds = Math.max(1, Math.min(20, Number(process.argv[2] ?? 3)));

interface Sample {
  readonly ms: number;
  readonly rssMb: number;
}

function measure(cmd: string, args: string[], outdir: string): Sample {
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(outdir), { recursive: true }); // cdktf's App makes only the last folder
  const started = performance.now();
  const res = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CDKTF_OUTDIR: outdir, NODE_OPTIONS: `--require ${PROBE} --disable-warning=NodeVersionSupportWarning` },
  });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stderr.slice(-2000)}`);
  if (!fs.existsSync(path.join(outdir, "manifest.json"))) throw new Error(`${cmd} wrote no manifest.json`);
  const rss = [...res.stderr.matchAll(/BENCH_MAX_RSS_KB=(\d+)/g)].map((m) => Number(m[1]));
  return { ms, rssMb: Math.max(...rss) / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main(): void {
  const tmp = path.join(ROOT, ".tmp", "bench-synth");
  const ours: Sample[] = [];
  const baseline: Sample[] = [];
  for (let i = 0; i < rounds; i++) {
    ours.push(measure(process.execPath, [path.join(ROOT, "scripts", "synth.mjs")], path.join(tmp, "ours")));
    baseline.push(measure(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "main.ts")], path.join(tmp, "tsx")));
  }
  const stacks = fs.readdirSync(path.join(tmp, "ours", "stacks"));
  const resources = stacks.map((s) => {
    const json = JSON.parse(fs.readFileSync(path.join(tmp, "ours", "stacks", s, "cdk.tf.json"), "utf8"));
    const count = Object.values(json.resource ?? {}).reduce((n: number, byName) => n + Object.keys(byName as object).length, 0);
    return `${s}=${count}`;
  });
  const o = { ms: median(ours.map((s) => s.ms)), rss: median(ours.map((s) => s.rssMb)) };
  const b = { ms: median(baseline.map((s) => s.ms)), rss: median(baseline.map((s) => s.rssMb)) };
  console.log(`synth of ${stacks.length} stacks (${resources.join(", ")} resources), median of ${rounds} rounds`);
  console.log(`  ours  (esbuild + node): ${o.ms.toFixed(0)} ms, peak ${o.rss.toFixed(0)} MB`);
  console.log(`  baseline (tsx main.ts): ${b.ms.toFixed(0)} ms, peak ${b.rss.toFixed(0)} MB`);
  console.log(`  ratio baseline/ours: time ${(b.ms / o.ms).toFixed(2)}x, memory ${(b.rss / o.rss).toFixed(2)}x`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main();
