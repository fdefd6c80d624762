/**
 * Cold start benchmark (not a test): from starting the sender's process to its first
 * Parameter Store request, the container's way (the esbuild bundle of scripts/bundle.mjs,
 * plain node) against running app/src/cli.ts with tsx (`npm run digest` without npm).
 * A loopback server plays SSM: it notes when the first request arrives and what it is,
 * and the benchmark then kills the process group it started (by its PID). Interleaved.
 *
 *   npm run bench -- --only cold-start [--rounds N]
 */
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { interleave, stats, type Stats } from "./lib/measure";

const ROOT = path.resolve(__dirname, "..");

interface FirstRequest {
  readonly ms: number;
  /** X-Amz-Target of the first request, e.g. "AmazonSSM.GetParametersByPath". */
  readonly target: string;
}

/**
 * Starts `args` (with this Node) against the loopback server and resolves when its first
 * request arrives; the process group is killed then (or after 60 s, as a failure).
 */
function firstRequest(args: readonly string[], endpoint: string, arrivals: ((target: string) => void)[]): Promise<FirstRequest> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...args], {
      cwd: ROOT,
      detached: true, // its own process group: tsx runs the CLI in a child of its own
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "bench",
        AWS_SECRET_ACCESS_KEY: "bench",
        AWS_EC2_METADATA_DISABLED: "true",
        VIBE_PARAMETER_ROOT: "/bench-cold-start",
        VIBE_STAGE: "bench",
        VIBE_LOG_FORMAT: "json",
      },
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
    const stop = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const i = arrivals.indexOf(arrived);
      if (i >= 0) arrivals.splice(i, 1);
      stop();
      reject(err);
    };
    let result: FirstRequest | undefined;
    // Resolved once the process (group) is gone, so the next start does not share the CPU with it.
    const arrived = (target: string) => {
      if (settled || result) return;
      result = { ms: performance.now() - started, target };
      clearTimeout(timer);
      stop();
    };
    const timer = setTimeout(() => fail(new Error(`no request within 60 s from ${args.join(" ")}: ${stderr}`)), 60_000);
    arrivals.push(arrived);
    child.once("exit", (code) => {
      if (result && !settled) {
        settled = true;
        resolve(result);
      } else fail(new Error(`${args.join(" ")} exited ${code} before any request: ${stderr}`));
    });
  });
}

export interface ColdStartResult {
  readonly bundle: Stats;
  readonly tsx: Stats;
  readonly bundleKb: number;
  /** What the first request was (the same for both, or the benchmark fails). */
  readonly target: string;
}

export async function measureColdStart(rounds: number, log: (line: string) => void = () => undefined): Promise<ColdStartResult> {
  const bundleModule = pathToFileURL(path.join(ROOT, "scripts", "bundle.mjs")).href;
  const { bundle } = (await import(bundleModule)) as { bundle: () => Promise<{ file: string; bytes: number }> };
  const built = await bundle();
  log(`bundle: ${path.relative(ROOT, built.file)}, ${Math.round(built.bytes / 1024)} KiB`);
  const waiting: ((target: string) => void)[] = [];
  const server = http.createServer((req, res) => {
    const target = String(req.headers["x-amz-target"] ?? req.url);
    waiting.shift()?.(target);
    req.resume();
    res.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tsx = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
  try {
    const samples = await interleave(
      rounds,
      {
        bundle: () => firstRequest([built.file, "run"], endpoint, waiting),
        tsx: () => firstRequest([tsx, path.join(ROOT, "app", "src", "cli.ts"), "run"], endpoint, waiting),
      },
      { after: (s, r) => log(`round ${s.round}/${s.rounds} ${s.variant}: ${r.ms.toFixed(0)} ms to ${r.target}`) },
    );
    const targets = new Set([...samples.bundle, ...samples.tsx].map((r) => r.target));
    if (targets.size !== 1 || ![...targets][0]!.startsWith("AmazonSSM.")) throw new Error(`the first requests were not one Parameter Store call: ${[...targets].join(", ")}`);
    return { bundle: stats(samples.bundle.map((r) => r.ms)), tsx: stats(samples.tsx.map((r) => r.ms)), bundleKb: Math.round(built.bytes / 1024), target: [...targets][0]! };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
