/**
 * `npm run local`'s own mechanics, without a whole run: the work-folder lock, the apply
 * heartbeat, the export lines, the command line, and a stop in the middle of a run.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { LOCK_FILE, LocalBusyError, LocalInterruptedError, acquireLock, applyHeartbeat, exportLines, localCli, runLocal } from "../../scripts/local";

const tmpRoot = path.join(__dirname, "..", "..", ".tmp");
const newDir = () => path.join(tmpRoot, `local-${randomUUID()}`);

describe("the work folder's lock", () => {
  test("when the folder is free, it is taken, and released on release", () => {
    const dir = newDir();
    const release = acquireLock(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("when a live process holds it, a second run is refused with that process's pid", async () => {
    const dir = newDir();
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: holder.pid, startedAt: "earlier" }));
      let err: unknown;
      try {
        acquireLock(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LocalBusyError);
      expect((err as Error).message).toContain(`pid ${holder.pid}`);
      expect((err as Error).message).toContain("--work-dir");
    } finally {
      holder.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("when the holder is gone (a stale lock), it is taken over", async () => {
    const dir = newDir();
    const gone = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
    await new Promise((r) => gone.once("exit", r));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: gone.pid }));
    const release = acquireLock(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    release();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("the apply heartbeat", () => {
  test("when terraform prints resource lines, it reports progress at most once per interval, naming the slowest wait", () => {
    let t = 0;
    const out: string[] = [];
    const feed = applyHeartbeat((l) => out.push(l), () => t, 5000);
    feed("Plan: 3 to add, 0 to change, 0 to destroy.");
    feed("aws_kms_key.a: Creating...");
    feed("aws_sqs_queue.q: Creating...");
    t = 1000;
    feed("aws_kms_key.a: Creation complete after 1s [id=k]");
    expect(out).toEqual([]);
    t = 6000;
    feed("aws_sqs_queue.q: Still creating... [6s elapsed]");
    expect(out).toEqual(["      1/3 resources created, waiting on aws_sqs_queue.q (6 s)"]);
    t = 7000;
    feed("aws_sqs_queue.q: Still creating... [7s elapsed]");
    expect(out).toHaveLength(1);
  });
});

test("when exports are printed, values are single-quoted so a shell reads them back verbatim", () => {
  expect(exportLines({ A: "http://127.0.0.1:1", B: "it's" })).toEqual(["export A='http://127.0.0.1:1'", "export B='it'\\''s'"]);
});

describe("the local command line", () => {
  const io = (isTTY = true) => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, isTTY, stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
  };

  test("when --help is given, it documents --keep, --work-dir and the exit codes", async () => {
    const o = io();
    expect(await localCli(o).run(["--help"])).toBe(0);
    expect(o.out.join("")).toMatch(/--keep[\s\S]*--work-dir[\s\S]*Exit codes:[\s\S]*143/);
  });

  test("when a flag is misspelt, it refuses with exit 64 and starts nothing", async () => {
    const o = io();
    expect(await localCli(o).run(["--kep"])).toBe(64);
    expect(o.err.join("")).toMatch(/unknown option '--kep'[\s\S]*--keep/);
  });
});

test("when stopped after moto started, it stops moto, releases the lock and says it was interrupted", async () => {
  const workDir = newDir();
  const stop = new AbortController();
  const lines: string[] = [];
  let pid = 0;
  const run = runLocal({
    workDir,
    signal: stop.signal,
    log: (line) => {
      lines.push(line);
      const m = /moto http:\/\/127\.0\.0\.1:\d+ \(pid (\d+)\)/.exec(line);
      if (m) {
        pid = Number(m[1]);
        stop.abort();
      }
    },
  });
  await expect(run).rejects.toBeInstanceOf(LocalInterruptedError);
  expect(pid).toBeGreaterThan(0);
  expect(() => process.kill(pid, 0)).toThrow();
  expect(fs.existsSync(path.join(workDir, LOCK_FILE))).toBe(false);
  fs.rmSync(workDir, { recursive: true, force: true });
}, 60_000);
