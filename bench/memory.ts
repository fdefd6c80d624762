/**
 * Memory benchmark (not a test): the peak RSS of a whole digest run, each run in its own
 * child process (bench/memory-child.ts: the sender wired by the CLI's own code, bundled and
 * run with plain node as in the container), against moto (behind the fault proxy with no
 * faults, which lifts moto's 1-send-a-second quota to SES's usual 50/s) and the SendGrid
 * emulator (at SendGrid's own 10/s), all on 127.0.0.1, with the DynamoDB ledger and half
 * the list on each provider (--ses-percent); 30 feeds. A long run prints how far it got
 * every 15 s. `npm run bench` runs it with the whole list on SES (10,000 recipients take
 * ~3.5 min at 50/s, against ~8.5 min with half of them at SendGrid's 10/s).
 *
 *   npm run bench:memory                                  100, 1,000 and 10,000 recipients
 *   npm run bench:memory -- --baseline 137d6bb            and the same runs on that commit's code, interleaved
 *   npm run bench:memory -- --sizes 100,1000 --baseline main
 *   npm run bench:memory -- --node-options "--max-old-space-size=128 --max-semi-space-size=1"
 *   npm run bench:memory -- --ses-percent 100                      the whole list through SES (50/s)
 *
 * Without --node-options the child's V8 sizes its heap for this machine (GBs: it collects
 * late, so peak RSS says more about the heap limit than about what the run keeps); with the
 * task's heap settings (RECOMMENDED_TASK_NODE_OPTIONS, docs/operations.md) it behaves as in
 * a 512 MiB container. A child that runs out of heap is reported as such, not as a failure
 * of the benchmark.
 *
 * The list is replaced in the child after the config loads: the 1,000-recipient cap is lifted
 * for the benchmark only. The baseline's app/src is taken with `git archive` into .tmp/.
 * Prints a table (peak RSS, RSS before the run, per-recipient slope, the ratio to the
 * baseline); `measureMemory` returns the same numbers for a combined bench table.
 */
import { execFileSync, spawn } from "node:child_process";
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SESClient } from "@aws-sdk/client-ses";
import { SSMClient } from "@aws-sdk/client-ssm";
import { startFeedServer } from "../scripts/lib/feed-server";
import { startMoto } from "../scripts/lib/moto";
import { startSendGridServer } from "../scripts/lib/sendgrid-server";
import { createLedgerTable, putParameters, verifySender } from "../test/support/app-fixtures";
import { startFaultProxy } from "../test/support/fault-proxy";
import { benchFeedRoutes, benchFeedsJson } from "./lib/fixtures";

const ROOT = path.resolve(__dirname, "..");
const CREDS = { accessKeyId: "bench", secretAccessKey: "bench" };

export interface MemoryRun {
  /** "current" or the baseline's git ref. */
  readonly code: string;
  readonly recipients: number;
  /** Peak RSS; for a child that ran out of heap, the RSS it had reached is unknown (NaN). */
  readonly peakRssMb: number;
  /** The child ran out of heap under the node options given. */
  readonly outOfMemory?: boolean;
  /** RSS after the modules loaded, before the run started. */
  readonly rssBeforeRunMb: number;
  /** Peak RSS when delivery began (modules, config, feeds and the render: what any list size costs). */
  readonly peakBeforeDeliveryMb: number;
  readonly sent: number;
  readonly exitCode: number;
  readonly durationS: number;
}

export interface MemoryResult {
  readonly runs: readonly MemoryRun[];
  /** KB of peak RSS per added recipient, between the smallest and the largest size, per code. */
  readonly slopeKbPerRecipient: Readonly<Record<string, number>>;
}

export interface MemoryOptions {
  /** @default [100, 1000, 10000] */
  readonly sizes?: readonly number[];
  /** A git ref whose app/src is measured the same way, interleaved with the current code. */
  readonly baselineRef?: string;
  /** NODE_OPTIONS of the child (e.g. the task's heap flags). @default - none */
  readonly nodeOptions?: string;
  /** Share of the list sent through SES (the rest through the SendGrid emulator, at SendGrid's 10/s). @default 50 */
  readonly sesPercent?: number;
  readonly log?: (line: string) => void;
}

/**
 * The child for a code tree, bundled as the container's sender is (one CommonJS file, plain
 * node, no tsx in the process): the current tree's bench/memory-child.ts, or a copy of it
 * beside a baseline's app/src, extracted once into .tmp/bench-baseline/<sha> (its
 * node_modules resolve from the repository's).
 */
async function childBundle(code: string, tmp: string): Promise<string> {
  let entry = path.join(__dirname, "memory-child.ts");
  if (code !== "current") {
    const sha = execFileSync("git", ["rev-parse", "--short", code], { cwd: ROOT }).toString().trim();
    const dir = path.join(ROOT, ".tmp", "bench-baseline", sha);
    if (!fs.existsSync(path.join(dir, "app", "src", "run.ts"))) {
      fs.mkdirSync(dir, { recursive: true });
      const tar = execFileSync("git", ["archive", sha, "app/src"], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
      execFileSync("tar", ["-x", "-C", dir], { input: tar });
    }
    fs.mkdirSync(path.join(dir, "bench"), { recursive: true });
    entry = path.join(dir, "bench", "memory-child.ts");
    fs.copyFileSync(path.join(__dirname, "memory-child.ts"), entry);
  }
  const outfile = path.join(tmp, `child-${code.replace(/\W/g, "_")}.cjs`);
  // `require.main` undefined: the CLI module inside must not take the child for its own entry point.
  await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", target: "node24", format: "cjs", mainFields: ["module", "main"], nodePaths: [path.join(ROOT, "node_modules")], define: { "require.main": "undefined" }, logLevel: "warning" });
  return outfile;
}

export async function measureMemory(opts: MemoryOptions = {}): Promise<MemoryResult> {
  const sizes = opts.sizes ?? [100, 1000, 10_000];
  const log = opts.log ?? (() => undefined);
  const tmp = fs.mkdtempSync(path.join(ROOT, ".tmp", "bench-memory-"));
  const codes: { name: string; child: string }[] = [{ name: "current", child: await childBundle("current", tmp) }];
  if (opts.baselineRef) codes.push({ name: opts.baselineRef, child: await childBundle(opts.baselineRef, tmp) });

  const moto = await startMoto();
  const routes = benchFeedRoutes(30);
  const feeds = await startFeedServer({ routes });
  const sendgrid = await startSendGridServer();
  const aws = await startFaultProxy({ target: moto.url, seed: 1, sesQuota: { maxSendRate: 50, max24HourSend: 10_000_000 } });
  const runs: MemoryRun[] = [];
  try {
    for (const n of sizes) {
      for (const code of codes) {
        // A clean emulator state per run: moto reset, the emulator's records dropped.
        await fetch(`${moto.url}/moto-api/reset`, { method: "POST" });
        sendgrid.accepted.length = 0;
        sendgrid.requests.length = 0;
        const stack = await makeStack(moto.url, benchFeedsJson(feeds.url, routes), opts.sesPercent ?? 50);
        const out = path.join(tmp, `${code.name.replace(/\W/g, "_")}-${n}.json`);
        log(`  ${code.name}: ${n.toLocaleString("en-US")} recipients ...`);
        // The emulator keeps every accepted message; nothing here reads them, so they are
        // dropped as the run goes (a 10,000-recipient run would keep ~0.5 GB in this process).
        let sendgridSends = 0;
        const drop = setInterval(() => {
          sendgridSends += sendgrid.accepted.length;
          sendgrid.accepted.length = 0;
          sendgrid.requests.length = 0;
        }, 1000);
        // A line every 15 s of a long run: how many sends have gone out.
        const started = Date.now();
        const ses0 = aws.seen["ses:SendRawEmail"] ?? 0;
        const heartbeat = setInterval(() => log(`    ... ${Math.round((Date.now() - started) / 1000)} s, ${(aws.seen["ses:SendRawEmail"] ?? 0) - ses0 + sendgridSends + sendgrid.accepted.length} of ${n.toLocaleString("en-US")} sent`), 15_000);
        // The environment the task definition gives the sender, pointed at the emulators.
        const ended = await runChild(code.child, {
          BENCH_N: String(n),
          BENCH_OUT: out,
          AWS_REGION: "us-east-1",
          AWS_ENDPOINT_URL: aws.url,
          AWS_ACCESS_KEY_ID: CREDS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
          VIBE_PARAMETER_ROOT: stack.root,
          VIBE_LEDGER_TABLE: stack.table,
          VIBE_SENDGRID_BASE_URL: sendgrid.url,
          VIBE_LOG_FORMAT: "json",
          ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}),
        }).finally(() => {
          clearInterval(drop);
          clearInterval(heartbeat);
        });
        if (ended === "out of memory") {
          log("    out of memory (heap limit)");
          runs.push({ code: code.name, recipients: n, peakRssMb: NaN, outOfMemory: true, rssBeforeRunMb: NaN, peakBeforeDeliveryMb: NaN, sent: 0, exitCode: NaN, durationS: NaN });
          continue;
        }
        const r = JSON.parse(fs.readFileSync(out, "utf8")) as { recipients: number; sent: number; exitCode: number; durationMs: number; rssBeforeRunKb: number; maxRssKb: number; maxRssBeforeDeliveryKb: number };
        const run: MemoryRun = { code: code.name, recipients: n, peakRssMb: round1(r.maxRssKb / 1024), rssBeforeRunMb: round1(r.rssBeforeRunKb / 1024), peakBeforeDeliveryMb: round1(r.maxRssBeforeDeliveryKb / 1024), sent: r.sent, exitCode: r.exitCode, durationS: round1(r.durationMs / 1000) };
        log(`    peak RSS ${run.peakRssMb} MB (${run.sent} sent, exit ${run.exitCode}, ${run.durationS} s; heap and buffers at their peaks, MB: ${JSON.stringify((r as { peaksMb?: unknown }).peaksMb)})`);
        runs.push(run);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await aws.close();
    await sendgrid.close();
    await feeds.close();
    await moto.stop();
  }
  const slopeKbPerRecipient: Record<string, number> = {};
  const lo = Math.min(...sizes);
  const hi = Math.max(...sizes);
  for (const code of codes) {
    const a = runs.find((r) => r.code === code.name && r.recipients === lo);
    const b = runs.find((r) => r.code === code.name && r.recipients === hi);
    if (a && b && hi > lo && !a.outOfMemory && !b.outOfMemory) slopeKbPerRecipient[code.name] = round1(((b.peakRssMb - a.peakRssMb) * 1024) / (hi - lo));
  }
  return { runs, slopeKbPerRecipient };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Parameters, a verified sender and a ledger table for one run (written straight to moto). */
async function makeStack(motoUrl: string, feedsJson: string, sesPercent: number): Promise<{ root: string; table: string }> {
  const client = { region: "us-east-1", credentials: CREDS, maxAttempts: 2 };
  const ssm = new SSMClient({ ...client, endpoint: motoUrl });
  const ses = new SESClient({ ...client, endpoint: motoUrl });
  const ddb = new DynamoDBClient({ ...client, endpoint: motoUrl });
  const id = randomUUID().slice(0, 8);
  const root = `/bench-mem-${id}`;
  const from = `digest-${id}@bench.example.com`;
  await putParameters(ssm, root, {
    from,
    // Replaced in the child (the cap is lifted there); one valid address here.
    to: "placeholder@bench.example.org",
    sesPercent: String(sesPercent),
    unsubscribe: "https://bench.example.com/unsubscribe",
    sendgridApiKey: `SG.bench-${id}`,
    feeds: feedsJson,
  });
  await verifySender(ses, from);
  const table = await createLedgerTable(ddb, `bench-ledger-${id}`);
  ssm.destroy();
  ses.destroy();
  ddb.destroy();
  return { root, table };
}

/** Runs a bundled child in a fresh node (bounded: 30 minutes), stdout discarded. */
function runChild(bundle: string, env: Record<string, string>): Promise<"done" | "out of memory"> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", AWS_EC2_METADATA_DISABLED: "true", VIBE_STAGE: "bench", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30 * 60_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve("done");
      else if (/heap out of memory|Reached heap limit/.test(err)) resolve("out of memory");
      else reject(new Error(`memory-child exited ${code}: ${err}`));
    });
  });
}

/**
 * The heap settings docs/operations.md recommends for the task (about what Node derives from
 * a 512 MiB limit), used when the synthesized task definition sets no NODE_OPTIONS.
 */
export const RECOMMENDED_TASK_NODE_OPTIONS = "--max-old-space-size=128 --max-semi-space-size=1";

/** The table the benchmark prints. */
export function memoryTable(r: MemoryResult, nodeOptions?: string): string {
  const codes = [...new Set(r.runs.map((x) => x.code))];
  const sizes = [...new Set(r.runs.map((x) => x.recipients))];
  const lines = [`| recipients | ${codes.map((c) => `${c}: peak RSS (loaded / at delivery start)`).join(" | ")}${codes.length > 1 ? " | current / baseline" : ""} |`, `|---|${codes.map(() => "---").join("|")}${codes.length > 1 ? "|---" : ""}|`];
  for (const n of sizes) {
    const cells = codes.map((c) => {
      const x = r.runs.find((y) => y.code === c && y.recipients === n)!;
      return x.outOfMemory ? "out of memory (heap limit)" : `${x.peakRssMb} MB (${x.rssBeforeRunMb} / ${x.peakBeforeDeliveryMb} MB), ${x.sent} sent in ${x.durationS} s`;
    });
    const cur = r.runs.find((y) => y.code === "current" && y.recipients === n)!;
    const base = codes.length > 1 ? r.runs.find((y) => y.code === codes[1] && y.recipients === n)! : undefined;
    const ratio = base ? ` | ${base.outOfMemory || cur.outOfMemory ? "-" : `${(cur.peakRssMb / base.peakRssMb).toFixed(2)}x`}` : "";
    lines.push(`| ${n.toLocaleString("en-US")} | ${cells.join(" | ")}${ratio} |`);
  }
  lines.push("", `slope (KB of peak RSS per added recipient): ${Object.entries(r.slopeKbPerRecipient).map(([c, v]) => `${c} ${v}`).join(", ") || "-"}`);
  return [`child NODE_OPTIONS: ${nodeOptions ?? "(none: V8 sizes the heap for this machine)"}`, "", ...lines].join("\n");
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizes = value("--sizes")?.split(",").map(Number);
  const baselineRef = value("--baseline");
  const nodeOptions = value("--node-options");
  const sesPercent = value("--ses-percent") === undefined ? undefined : Number(value("--ses-percent"));
  process.stderr.write(`memory benchmark: ${sizes?.join(", ") ?? "100, 1000, 10000"} recipients${baselineRef ? `, against ${baselineRef}` : ""}\n`);
  measureMemory({ sizes, baselineRef, nodeOptions, sesPercent, log: (l) => process.stderr.write(`${l}\n`) }).then(
    (r) => {
      process.stdout.write(`${memoryTable(r, nodeOptions)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    },
  );
}
