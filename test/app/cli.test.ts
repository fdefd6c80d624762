import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { simpleParser } from "mailparser";
import { main, readEnv } from "../../app/src/cli";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer } from "../../scripts/lib/sendgrid-server";
import { createLedgerTable, dynamoClient, feedsJson, motoUrl, putParameters, sesClient, ssmClient, uniqueRoot, verifySender } from "../support/app-fixtures";

const ROOT_DIR = path.resolve(__dirname, "..", "..");
const TSX = path.join(ROOT_DIR, "node_modules", ".bin", "tsx");

interface Proc {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as the lead's local runner does (tsx, JSON logs), bounded at 60 s. */
function runCli(args: string[], env: Record<string, string>): Promise<Proc> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      ["app/src/cli.ts", ...args],
      {
        cwd: ROOT_DIR,
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_EC2_METADATA_DISABLED: "true", VIBE_LOG_FORMAT: "json", ...env },
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const lastLine = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;

describe("digest CLI", () => {
  let feeds: FeedServer;
  const outDir = path.join(ROOT_DIR, ".tmp", `cli-${process.pid}`);
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    feeds = await startFeedServer({ routes: { "/slow.rss": { body: "<rss/>", delayMs: 8000 } } });
    // main() in-process: the SDK's default chain reads this worker's environment.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await feeds.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  async function stack() {
    const u = uniqueRoot();
    await putParameters(ssmClient(), u.root, { from: u.from, to: u.to, feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe", "/release-notes.json": "Editor" }) });
    await verifySender(sesClient(), u.from);
    return { ...u, env: { VIBE_PARAMETER_ROOT: u.root, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), VIBE_OUT_DIR: outDir } };
  }

  test("when `run` succeeds, it exits 0 and its last stdout line is the JSON run summary with message ids and files", async () => {
    const s = await stack();
    const p = await runCli(["run"], s.env);
    expect(p.code).toBe(0);
    const summary = lastLine(p.stdout);
    expect(summary).toMatchObject({ msg: "run summary", sent: 1, failed: 0, exitCode: 0 });
    expect(summary.messageIds).toEqual([expect.any(String)]);
    const files = summary.files as { eml: string; html: string };
    expect(path.isAbsolute(files.eml) && path.isAbsolute(files.html)).toBe(true);
    const mail = await simpleParser(fs.readFileSync(files.eml));
    expect(mail.subject).toMatch(/^🧠 Daily Vibe Coding Digest – \w+ \d{2}, \d{4} \d{1,2}:\d{2} [AP]M E[SD]T$/);
    expect(fs.readFileSync(files.html, "utf8")).toContain('href="https://vibe.example.com/posts/tests-first"');
    // EMF metrics are flushed before the summary line.
    const lines = p.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-2)).toHaveProperty("_aws");
  });

  test("when a parameter is missing, it exits 2 and the summary names the parameter", async () => {
    const u = uniqueRoot();
    const p = await runCli(["run"], { VIBE_PARAMETER_ROOT: u.root, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl() });
    expect(p.code).toBe(2);
    expect(lastLine(p.stdout)).toMatchObject({ msg: "run summary", sent: 0, failed: 0, error: { code: "CONFIG_MISSING", resource: `${u.root}/email/from_address` } });
  });

  test("when `run --dry-run` is used, it writes .eml, .html and .txt and sends nothing", async () => {
    const s = await stack();
    const lines: string[] = [];
    const code = await main(["run", "--dry-run", "--out", path.join(outDir, "dry")], { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json" }, {
      writeLine: (l) => void lines.push(l),
      isTTY: false,
    });
    expect(code).toBe(0);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary).toMatchObject({ dryRun: true, sent: 0, skipped: 1, reason: "dry run" });
    expect(Object.keys(summary.files).sort()).toEqual(["eml", "html", "text"]);
  });

  test("when `preview` is used, it writes the HTML and text parts only", async () => {
    const s = await stack();
    const lines: string[] = [];
    const code = await main(["preview", "--out", path.join(outDir, "preview")], { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json" }, {
      writeLine: (l) => void lines.push(l),
      isTTY: false,
    });
    expect(code).toBe(0);
    const summary = JSON.parse(lines.at(-1)!);
    expect(Object.keys(summary.files).sort()).toEqual(["html", "text"]);
    expect(fs.readFileSync(summary.files.text, "utf8")).toContain("* Prompting for tests first");
  });

  test("when a person runs it on a terminal, it prints short progress lines and no EMF", async () => {
    const s = await stack();
    const lines: string[] = [];
    const code = await main(["run", "--dry-run", "--out", path.join(outDir, "tty")], { ...s.env }, { writeLine: (l) => void lines.push(l), isTTY: true });
    expect(code).toBe(0);
    const text = lines.join("\n");
    expect(text).toMatch(/^\d\d:\d\d:\d\d • loading config from Parameter Store/m);
    expect(text).toMatch(/• run summary .*reason=dry run/);
    expect(text).not.toContain("_aws");
    expect(() => JSON.parse(lines[0])).toThrow();
  });

  test("when the task is stopped with SIGTERM mid-run, it exits 143 and its last line says so", async () => {
    const u = uniqueRoot();
    await putParameters(ssmClient(), u.root, { from: u.from, to: u.to, feeds: feedsJson(feeds.url, { "/slow.rss": "Slow" }) });
    // One process, as in the container (node bundle.js): the tsx CLI would be a second
    // process relaying the signal, and under load it sometimes exits before the CLI writes.
    const child = spawn(process.execPath, ["--import", "tsx", "app/src/cli.ts", "run"], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? "", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json", VIBE_PARAMETER_ROOT: u.root, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl() },
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    // "close", not "exit": stdout may still hold the last line when the process has exited.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await new Promise<void>((resolve) => {
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes('"msg":"fetching feeds"')) resolve();
      });
      void exited.then(() => resolve());
    });
    child.kill("SIGTERM");
    const code = await exited;
    clearTimeout(timer);
    expect(code).toBe(143);
    expect(lastLine(out)).toMatchObject({ msg: "run summary", reason: "interrupted", exitCode: 143 });
  });

  test("when VIBE_LEDGER_TABLE is set, the run's last line carries the old fields plus the ledger's states, and a rerun sends nothing", async () => {
    const s = await stack();
    const table = await createLedgerTable(dynamoClient());
    const env = { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json", VIBE_LEDGER_TABLE: table };
    const run = async () => {
      const lines: string[] = [];
      const code = await main(["run"], env, { writeLine: (l) => void lines.push(l), isTTY: false });
      return { code, summary: JSON.parse(lines.at(-1)!) };
    };
    const first = await run();
    expect(first.code).toBe(0);
    expect(first.summary).toMatchObject({ msg: "run summary", ok: true, sent: 1, failed: 0, unknown: 0, messageIds: [expect.any(String)], files: { eml: expect.any(String) }, ledger: { table, states: { sent: 1 } }, routes: { ses: 1, sendgrid: 0 }, rollback: { inForce: false } });
    const second = await run();
    expect(second.code).toBe(0);
    expect(second.summary).toMatchObject({ sent: 0, skipped: 1, messageIds: [], ledger: { states: { sent: 1 } } });
  });

  test("when AWS is emulated and VIBE_SENDGRID_BASE_URL is unset, a SendGrid key is not used (the real API is never reached)", async () => {
    const s = await stack();
    await putParameters(ssmClient(), s.root, { from: s.from, to: s.to, feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe" }), useSes: "false", sendgridApiKey: "SG.cli-test" });
    const sendgrid = await startSendGridServer();
    try {
      const env = { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json" };
      const lines: string[] = [];
      expect(await main(["run"], env, { writeLine: (l) => void lines.push(l), isTTY: false })).toBe(1);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ recipients: [{ status: "failed", error: { code: "SENDGRID_NOT_CONFIGURED" } }] });
      expect(lines.join("\n")).toContain("SendGrid has a key but is not used in this run");

      lines.length = 0;
      expect(await main(["run"], { ...env, VIBE_SENDGRID_BASE_URL: sendgrid.url }, { writeLine: (l) => void lines.push(l), isTTY: false })).toBe(0);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ sent: 1, recipients: [{ provider: "sendgrid" }] });
      expect(sendgrid.acceptedFor(s.to)).toHaveLength(1);
    } finally {
      await sendgrid.close();
    }
  });

  test.each([[["send"]], [["run", "--bogus"]], [["preview", "--dry-run"]], [["rollback"]], [["rollback", "reset"]], [["ledger", "resend", "--date", "2026-11-28"]], [["ledger", "status", "--date", "yesterday"]], [["run", "--date", "2026-11-28"]]])("when the arguments are %j, it exits 64", async (args) => {
    const lines: string[] = [];
    expect(await main(args, {}, { writeLine: (l) => void lines.push(l), isTTY: false })).toBe(64);
  });

  test.each([
    [{ USE_SES_EMAIL: "yes" }, "USE_SES_EMAIL"],
    [{ VIBE_CONFIG_TTL_SECONDS: "-1" }, "VIBE_CONFIG_TTL_SECONDS"],
    [{ VIBE_LOG_FORMAT: "xml" }, "VIBE_LOG_FORMAT"],
    [{ VIBE_LEDGER_TABLE: "a b" }, "VIBE_LEDGER_TABLE"],
    [{ VIBE_SENDGRID_BASE_URL: "ftp://127.0.0.1" }, "VIBE_SENDGRID_BASE_URL"],
    [{ VIBE_SENDGRID_BASE_URL: "http://user:pw@127.0.0.1" }, "VIBE_SENDGRID_BASE_URL"],
    [{ VIBE_ROLLBACK_MIN_ATTEMPTS: "0" }, "VIBE_ROLLBACK_MIN_ATTEMPTS"],
  ])("when the environment has %j, it fails naming %s", (env, name) => {
    expect(() => readEnv(env, false)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", parameter: name }));
  });

  test("when the environment is read, it maps every variable", () => {
    const e = readEnv(
      { VIBE_PARAMETER_ROOT: "/x", AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL: "http://127.0.0.1:1", USE_SES_EMAIL: "FALSE", EMAIL_TO: "a@example.com, b@example.com", VIBE_CONFIG_TTL_SECONDS: "30", VIBE_OUT_DIR: "/tmp/o", VIBE_MAX_SEND_RATE: "2.5", VIBE_LEDGER_TABLE: "vibe-ledger", VIBE_SENDGRID_BASE_URL: "http://127.0.0.1:2", VIBE_ROLLBACK_MIN_ATTEMPTS: "10" },
      true,
    );
    expect(e).toEqual({
      root: "/x",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:1",
      overrides: { recipients: ["a@example.com", "b@example.com"], useSes: false, fallbackRegion: "eu-west-1" },
      ttlSeconds: 30,
      outDir: "/tmp/o",
      logFormat: "pretty",
      maxSendRate: 2.5,
      ledgerTable: "vibe-ledger",
      sendgridBaseUrl: "http://127.0.0.1:2",
      rollbackMinAttempts: 10,
    });
  });
});
