import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { simpleParser } from "mailparser";
import { DIGEST_ENV_DOCS, main, readEnv } from "../../app/src/cli";
import { ENV } from "../../app/src/contract";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer } from "../../scripts/lib/sendgrid-server";
import { motoSentMessages } from "../support/moto";
import { cliIo, createLedgerTable, dynamoClient, feedsJson, motoUrl, putParameters, sesClient, ssmClient, uniqueRoot, verifySender } from "../support/app-fixtures";

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
    // Answers only after the tests end: a run that waited for it would time it out (10 s) and log FEED_TIMEOUT.
    feeds = await startFeedServer({ routes: { "/slow.rss": { body: "<rss/>", delayMs: 3_600_000 } } });
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

  test.each([
    [{ VIBE_STAGE: "prod" }, "prod", 0],
    [{}, "unset", 1],
  ])("when VIBE_STAGE is %j, the EMF line carries Stage %p and the run warns %p time(s)", async (extra, stage, warnings) => {
    const s = await stack();
    const { lines, io } = cliIo(false);
    const code = await main(["run", "--dry-run", "--out", path.join(outDir, `stage-${stage}`)], { ...s.env, VIBE_LOG_FORMAT: "json", ...extra }, io);
    expect(code).toBe(0);
    const emf = lines.find((l) => l.includes('"_aws"'))!;
    expect(emf).toContain(`"Stage":"${stage}"`);
    expect((JSON.parse(emf) as { _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] } })._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Stage"]]);
    expect(lines.filter((l) => l.includes("VIBE_STAGE is not set"))).toHaveLength(warnings);
  });

  test("when a parameter is missing, it exits 2 and the summary names the parameter", async () => {
    const u = uniqueRoot();
    const p = await runCli(["run"], { VIBE_PARAMETER_ROOT: u.root, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl() });
    expect(p.code).toBe(2);
    expect(lastLine(p.stdout)).toMatchObject({ msg: "run summary", sent: 0, failed: 0, error: { code: "CONFIG_MISSING", resource: `${u.root}/email/from_address` } });
  });

  test("when `run --dry-run` is used, it writes .eml, .html and .txt of the first recipient's message and sends nothing", async () => {
    const s = await stack();
    const { lines, io } = cliIo(false);
    const code = await main(["run", "--dry-run", "--out", path.join(outDir, "dry")], { ...s.env, VIBE_LOG_FORMAT: "json" }, io);
    expect(code).toBe(0);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary).toMatchObject({ dryRun: true, total: 1, sent: 0, notTried: 1, reason: "dry run" });
    expect(Object.keys(summary.files).sort()).toEqual(["eml", "html", "text"]);
    // The preview is the first recipient's message: its .html is the .eml's HTML part.
    const mail = await simpleParser(fs.readFileSync(summary.files.eml));
    expect(mail.to).toMatchObject({ text: s.to });
    expect(fs.readFileSync(summary.files.html, "utf8")).toBe(mail.html);
  });

  test("when `preview` is used, it writes the HTML and text parts only", async () => {
    const s = await stack();
    const { lines, io } = cliIo(false);
    const code = await main(["preview", "--out", path.join(outDir, "preview")], { ...s.env, VIBE_LOG_FORMAT: "json" }, io);
    expect(code).toBe(0);
    const summary = JSON.parse(lines.at(-1)!);
    expect(Object.keys(summary.files).sort()).toEqual(["html", "text"]);
    expect(fs.readFileSync(summary.files.text, "utf8")).toContain("* Prompting for tests first");
  });

  test("when a person runs it in a terminal, progress goes to stderr as short lines and stdout gets a short human summary, no JSON and no EMF", async () => {
    const s = await stack();
    const { lines, io, stderrText } = cliIo(true);
    const code = await main(["run", "--dry-run", "--out", path.join(outDir, "tty")], { ...s.env }, io);
    expect(code).toBe(0);
    expect(stderrText()).toMatch(/^\d\d:\d\d:\d\d • loading config from Parameter Store/m);
    expect(stderrText()).not.toContain("_aws");
    expect(lines.join("\n")).toMatch(/^digest \d{4}-\d{2}-\d{2}: dry run: sent 0, failed 0, unknown 0, not tried 1 of 1 recipient \(exit 0\)/);
    for (const l of lines) expect(() => JSON.parse(l)).toThrow();
  });

  test("when --json is given in a terminal, every stdout line is JSON and the last is the run summary", async () => {
    const s = await stack();
    const { lines, io, stderrText } = cliIo(true);
    expect(await main(["run", "--dry-run", "--json", "--out", path.join(outDir, "json")], { ...s.env }, io)).toBe(0);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.at(-1)).toMatchObject({ msg: "run summary", reason: "dry run" });
    expect(parsed.some((o) => "_aws" in o)).toBe(true);
    expect(stderrText()).toBe("");
  });

  test("when `run --dry-run` finds no AWS credentials at all, it says no credentials (not rejected) and exits 2", async () => {
    const noCreds = { PATH: process.env.PATH ?? "", HOME: path.join(outDir, "no-home"), AWS_EC2_METADATA_DISABLED: "true", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", VIBE_LOG_FORMAT: "" };
    const p = await runCli(["run", "--dry-run"], noCreds);
    expect(p.code).toBe(2);
    const summary = lastLine(p.stdout);
    expect(summary).toMatchObject({ msg: "run summary", reason: "config", error: { code: "AWS_CREDENTIALS_MISSING" } });
    expect(String((summary.error as { message: string }).message)).toContain("no AWS credentials found");
    expect(p.stdout).not.toMatch(/not accepted|rejected/);
  });

  test("when run bare, it prints the help and exits 64 without reading the environment or sending", async () => {
    const { lines, io, stderrText } = cliIo(true);
    expect(await main([], { VIBE_PARAMETER_ROOT: "/never-read", AWS_ENDPOINT_URL: "http://127.0.0.1:9" }, io)).toBe(64);
    expect(stderrText()).toContain("Usage: npm run digest -- <command>");
    expect(lines).toEqual([]);
  });

  test("when --help is given, it prints the description, the commands, every environment variable the sender reads with its default, and every exit code", async () => {
    const { lines, io } = cliIo(true);
    expect(await main(["--help"], {}, io)).toBe(0);
    const help = lines.join("\n");
    expect(help).toContain("The Daily Vibe Coding Digest sender");
    for (const c of ["run", "preview", "rollback", "ledger"]) expect(help).toMatch(new RegExp(`^\\s+${c}\\b`, "m"));
    // Every variable readEnv reads is documented, each with its default.
    for (const name of Object.values(ENV)) expect(help).toContain(name);
    for (const d of DIGEST_ENV_DOCS.filter((e) => e.name.startsWith("VIBE_") || ["USE_SES_EMAIL", "EMAIL_TO"].includes(e.name))) expect(d.description).toMatch(/default/);
    for (const code of [0, 1, 2, 3, 4, 64, 143]) expect(help).toMatch(new RegExp(`^\\s+${code}\\s+\\S`, "m"));
  });

  /** The real CLI as one process (as in the container: node bundle.js; a tsx CLI would be a second process relaying the signal). */
  function spawnCli(env: Record<string, string>) {
    const child = spawn(process.execPath, ["--import", "tsx", "app/src/cli.ts", "run"], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? "", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), ...env },
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => void (out += d.toString()));
    // "close", not "exit": stdout may still hold the last line when the process has exited.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    const killer = setTimeout(() => child.kill("SIGKILL"), 40_000);
    void exited.then(() => clearTimeout(killer));
    /** Resolves when `ready()` holds (polled every 20 ms, at most 30 s) or the process ended. */
    const until = async (ready: () => boolean) => {
      let ended = false;
      void exited.then(() => void (ended = true));
      for (let i = 0; i < 1500 && !ended && !ready(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    return { child, exited, until, out: () => out };
  }

  test("when the task is stopped with SIGTERM while feeds load (nothing in flight), it exits 143 at once with metrics flushed and the interrupted summary", async () => {
    const u = uniqueRoot();
    await putParameters(ssmClient(), u.root, { from: u.from, to: u.to, feeds: feedsJson(feeds.url, { "/slow.rss": "Slow" }) });
    const cli = spawnCli({ VIBE_PARAMETER_ROOT: u.root });
    await cli.until(() => cli.out().includes('"msg":"fetching feeds"'));
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(143);
    expect(cli.out()).not.toContain("FEED_TIMEOUT"); // the hanging feed was not waited for (it times out after 10 s)
    const lines = cli.out().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ msg: "run summary", ok: false, reason: "interrupted", sent: 0, failed: 0, exitCode: 143 });
    expect(lines.at(-1)).not.toHaveProperty("graceExceeded");
    expect(lines.at(-2)).toMatchObject({ _aws: expect.anything(), DigestSucceeded: 0 }); // metrics flushed before the summary
    expect(lines.some((o) => o.msg === "interrupted by SIGTERM")).toBe(true);
  });

  test("when SIGTERM comes while a send hangs past VIBE_SHUTDOWN_GRACE_MS, it stops waiting when the grace is over, flushes metrics and exits 143 saying the grace was exceeded", async () => {
    const u = uniqueRoot();
    await putParameters(ssmClient(), u.root, { from: u.from, to: u.to, feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe" }), useSes: "false", sendgridApiKey: `SG.term-${u.id}` });
    const sendgrid = await startSendGridServer();
    try {
      sendgrid.inject({ to: u.to, times: 1, fault: { kind: "hang" } });
      const cli = spawnCli({ VIBE_PARAMETER_ROOT: u.root, VIBE_SENDGRID_BASE_URL: sendgrid.url, VIBE_SHUTDOWN_GRACE_MS: "1000" });
      await cli.until(() => sendgrid.requests.some((r) => r.to === u.to));
      const t0 = Date.now();
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(143);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // the send in flight got its grace
      // and no more: had it waited for SendGrid's own 15 s timeout, the summary below would show
      // the recipient unknown (SENDGRID_TIMEOUT) instead of in flight with the grace exceeded.
      const lines = cli.out().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      // Every recipient is accounted for: the one whose request hangs is in flight.
      expect(lines.at(-1)).toMatchObject({ msg: "run summary", ok: false, reason: "interrupted", graceExceeded: true, total: 1, sent: 0, failed: 0, unknown: 0, inFlight: 1, notTried: 0, exitCode: 143 });
      expect(lines.at(-1)!.recipients).toEqual([expect.objectContaining({ recipient: u.to, status: "in_flight" })]);
      expect(lines.at(-2)).toMatchObject({ _aws: expect.anything(), DigestSucceeded: 0 });
      expect(lines.some((o) => o.msg === "sends in flight did not settle within the shutdown grace; their outcome is unknown (see `digest ledger status`)")).toBe(true);
    } finally {
      await sendgrid.close();
    }
  });

  test("when the run is stopped (as by SIGTERM) during delivery, sends in flight settle, the rest are not claimed, and it exits 143 with the real counts and metrics", async () => {
    const s = await stack();
    const recipients = [0, 1, 2, 3, 4].map((i) => `term-${i}-${s.id}@example.net`);
    await putParameters(ssmClient(), s.root, { from: s.from, to: recipients.join(","), feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe" }) });
    const table = await createLedgerTable(dynamoClient());
    const stop = new AbortController();
    // moto's MaxSendRate is 1: one SES send a second, so the stop lands mid-delivery.
    const { lines, io } = cliIo(false, { stop: stop.signal, onLine: (l) => l.includes('"msg":"SES accepted the message"') && stop.abort() });
    const code = await main(["run"], { ...s.env, VIBE_LOG_FORMAT: "json", VIBE_LEDGER_TABLE: table, VIBE_OUT_DIR: "" }, io);
    expect(code).toBe(143);
    const summary = JSON.parse(lines.at(-1)!) as { sent: number; notTried: number; total: number; reason: string; exitCode: number; ledger: { states: Record<string, number> }; recipients: { recipient: string; status: string; skipReason?: string }[] };
    expect(summary).toMatchObject({ msg: "run summary", ok: false, reason: "interrupted", exitCode: 143, failed: 0, unknown: 0, inFlight: 0, total: 5 });
    expect(summary.sent).toBeGreaterThanOrEqual(1);
    expect(summary.sent).toBeLessThan(5);
    expect(summary.sent + summary.notTried).toBe(5);
    expect(summary.ledger.states.in_progress).toBeUndefined(); // nothing left claimed
    expect(summary.ledger.states.sent).toBe(summary.sent);
    const emf = JSON.parse(lines.at(-2)!) as Record<string, unknown>;
    expect(emf).toMatchObject({ EmailsSent: summary.sent, DigestSucceeded: 0 });
    const sesSent = await motoSentMessages(motoUrl());
    const delivered = recipients.filter((r) => sesSent.some((m) => (m.destinations ?? []).includes(r)));
    expect(delivered).toEqual(summary.recipients.filter((r) => r.status === "sent").map((r) => r.recipient));
  });

  test("when VIBE_LEDGER_TABLE is set, the run's last line carries the old fields plus the ledger's states, and a rerun sends nothing", async () => {
    const s = await stack();
    const table = await createLedgerTable(dynamoClient());
    const env = { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json", VIBE_LEDGER_TABLE: table };
    const run = async () => {
      const { lines, io } = cliIo(false);
      const code = await main(["run"], env, io);
      return { code, summary: JSON.parse(lines.at(-1)!) };
    };
    const first = await run();
    expect(first.code).toBe(0);
    expect(first.summary).toMatchObject({ msg: "run summary", ok: true, sent: 1, failed: 0, unknown: 0, messageIds: [expect.any(String)], files: { eml: expect.any(String) }, ledger: { table, states: { sent: 1 } }, routes: { ses: 1, sendgrid: 0 }, rollback: { inForce: false } });
    const second = await run();
    expect(second.code).toBe(0);
    expect(second.summary).toMatchObject({ sent: 0, skipped: 1, messageIds: [], ledger: { states: { sent: 1 } } });
    // The ledger item carries the provider request's latency (rollout status reads it).
    const item = await new (await import("../../app/src/ledger")).DeliveryLedger(dynamoClient(), table).item(first.summary.digestDate, s.to);
    expect(item).toMatchObject({ state: "sent", provider: "ses", latencyMs: expect.any(Number) });
  });

  test("when AWS is emulated and VIBE_SENDGRID_BASE_URL is unset, a SendGrid key is not used (the real API is never reached)", async () => {
    const s = await stack();
    await putParameters(ssmClient(), s.root, { from: s.from, to: s.to, feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe" }), useSes: "false", sendgridApiKey: "SG.cli-test" });
    const sendgrid = await startSendGridServer();
    try {
      const env = { ...s.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", VIBE_LOG_FORMAT: "json" };
      const a = cliIo(false);
      expect(await main(["run"], env, a.io)).toBe(1);
      expect(JSON.parse(a.lines.at(-1)!)).toMatchObject({ recipients: [{ status: "failed", error: { code: "SENDGRID_NOT_CONFIGURED" } }] });
      expect(a.lines.join("\n")).toContain("SendGrid has a key but is not used in this run");

      const b = cliIo(false);
      expect(await main(["run"], { ...env, VIBE_SENDGRID_BASE_URL: sendgrid.url }, b.io)).toBe(0);
      expect(JSON.parse(b.lines.at(-1)!)).toMatchObject({ sent: 1, recipients: [{ provider: "sendgrid" }] });
      expect(sendgrid.acceptedFor(s.to)).toHaveLength(1);
    } finally {
      await sendgrid.close();
    }
  });

  test.each([[["send"]], [["run", "--bogus"]], [["preview", "--dry-run"]], [["rollback"]], [["rollback", "reset"]], [["ledger", "resend", "--date", "2026-11-28"]], [["ledger", "status", "--date", "yesterday"]], [["run", "--date", "2026-11-28"]], [["run", "extra"]], [["ledger", "mark-sent", "--date", "2026-11-28", "--recipient", "r@example.net", "--provider", "smtp", "--message-id", "x"]]])(
    "when the arguments are %j, it exits 64 before reading the environment",
    async (args) => {
      const { lines, io } = cliIo(false);
      expect(await main(args, { AWS_ENDPOINT_URL: "http://127.0.0.1:9", VIBE_LOG_FORMAT: "xml" }, io)).toBe(64);
      if (lines.length) expect(JSON.parse(lines.at(-1)!)).toMatchObject({ ok: false, code: "USAGE", exitCode: 64 });
    },
  );

  test("when an option is misspelt in a terminal, it says which and suggests the right one on stderr", async () => {
    const { io, stderrText, lines } = cliIo(true);
    expect(await main(["run", "--dry-rn"], {}, io)).toBe(64);
    expect(stderrText()).toMatch(/unknown option '--dry-rn'[\s\S]*Did you mean --dry-run\?/);
    expect(lines).toEqual([]);
  });

  test.each([
    ["the day before", "2026-11-27"],
    ["the day after", "2026-11-29"],
    ["a year before", "2025-11-28"],
  ])("when ledger resend names %s today's digest (%s), it exits 64 saying only today's digest can be resent, before any AWS call", async (_label, date) => {
    // 2026-11-28T12:00Z is 07:00 on November 28 in New York.
    const { lines, io } = cliIo(false, { clock: () => new Date("2026-11-28T12:00:00Z") });
    expect(await main(["ledger", "resend", "--date", date, "--recipient", "r@example.net"], { VIBE_LEDGER_TABLE: "no-such-table", AWS_ENDPOINT_URL: "http://127.0.0.1:9" }, io)).toBe(64);
    const out = JSON.parse(lines.at(-1)!) as { message: string };
    expect(out.message).toContain("only applies to today's digest (2026-11-28, America/New_York)");
    expect(out.message).toContain(date);
  });

  test("when ledger resend names today's digest in New York while UTC is already tomorrow, the date is accepted (and the table is asked)", async () => {
    // 2026-11-29T03:00Z is 22:00 on November 28 in New York.
    const table = await createLedgerTable(dynamoClient());
    const env = { VIBE_LEDGER_TABLE: table, AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: "us-east-1" };
    const ok = cliIo(false, { clock: () => new Date("2026-11-29T03:00:00Z") });
    expect(await main(["ledger", "resend", "--date", "2026-11-28", "--recipient", "r@example.net"], env, ok.io)).toBe(1); // accepted; nothing to resend
    expect(JSON.parse(ok.lines.at(-1)!)).toMatchObject({ msg: "ledger resend", ok: false, digestDate: "2026-11-28" });
    const bad = cliIo(false, { clock: () => new Date("2026-11-29T03:00:00Z") });
    expect(await main(["ledger", "resend", "--date", "2026-11-29", "--recipient", "r@example.net"], env, bad.io)).toBe(64);
  });

  test("when `ledger status` runs without VIBE_LEDGER_TABLE, it names the variable and exits 2: a JSON line when piped, a line on stderr in a terminal", async () => {
    const piped = cliIo(false);
    expect(await main(["ledger", "status"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9" }, piped.io)).toBe(2);
    expect(JSON.parse(piped.lines.at(-1)!)).toMatchObject({ ok: false, code: "CONFIG_MISSING", message: "no delivery ledger: set VIBE_LEDGER_TABLE", exitCode: 2 });
    const tty = cliIo(true);
    expect(await main(["ledger", "status"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9" }, tty.io)).toBe(2);
    expect(tty.stderrText()).toBe("digest: no delivery ledger: set VIBE_LEDGER_TABLE\n");
    expect(tty.lines).toEqual([]);
  });

  test("when ledger mark-sent names an unknown recipient, it records the send; a sent or absent one is refused with exit 1", async () => {
    const table = await createLedgerTable(dynamoClient());
    const date = "2026-11-28";
    const { DeliveryLedger } = await import("../../app/src/ledger");
    const ledger = new DeliveryLedger(dynamoClient(), table);
    const session = ledger.session(date, "run-amb");
    const c = await session.claim("amb@example.net");
    if (c.kind !== "claimed") throw new Error("expected a claim");
    await session.sending(c.token);
    await session.settle(c.token, { state: "unknown", provider: "ses", errorCode: "AWS_UNAVAILABLE" });
    const env = { VIBE_LEDGER_TABLE: table, AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: "us-east-1" };
    const args = (to: string) => ["ledger", "mark-sent", "--date", date, "--recipient", to, "--provider", "ses", "--message-id", "0100-abc"];
    expect(await main(args("amb@example.net"), env, cliIo(false).io)).toBe(0);
    expect(await ledger.item(date, "amb@example.net")).toMatchObject({ state: "sent", provider: "ses", messageId: "0100-abc", errorCode: undefined });
    const again = cliIo(false);
    expect(await main(args("amb@example.net"), env, again.io)).toBe(1);
    expect(JSON.parse(again.lines.at(-1)!)).toMatchObject({ ok: false, reason: expect.stringContaining("only an unknown recipient") });
    expect(await main(args("nobody@example.net"), env, cliIo(false).io)).toBe(1);
  });

  test.each([
    [{ USE_SES_EMAIL: "yes" }, "USE_SES_EMAIL"],
    [{ VIBE_CONFIG_TTL_SECONDS: "-1" }, "VIBE_CONFIG_TTL_SECONDS"],
    [{ VIBE_LOG_FORMAT: "xml" }, "VIBE_LOG_FORMAT"],
    [{ VIBE_LEDGER_TABLE: "a b" }, "VIBE_LEDGER_TABLE"],
    [{ VIBE_SENDGRID_BASE_URL: "ftp://127.0.0.1" }, "VIBE_SENDGRID_BASE_URL"],
    [{ VIBE_SENDGRID_BASE_URL: "http://user:pw@127.0.0.1" }, "VIBE_SENDGRID_BASE_URL"],
    [{ VIBE_SHUTDOWN_GRACE_MS: "30000" }, "VIBE_SHUTDOWN_GRACE_MS"],
  ])("when the environment has %j, it fails naming %s", (env, name) => {
    expect(() => readEnv(env, false)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", parameter: name }));
  });

  test("when the environment is read, it maps every variable", () => {
    const e = readEnv(
      { VIBE_PARAMETER_ROOT: "/x", AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL: "http://127.0.0.1:1", USE_SES_EMAIL: "FALSE", EMAIL_TO: "a@example.com, b@example.com", VIBE_CONFIG_TTL_SECONDS: "30", VIBE_OUT_DIR: "/tmp/o", VIBE_MAX_SEND_RATE: "2.5", VIBE_LEDGER_TABLE: "vibe-ledger", VIBE_SENDGRID_BASE_URL: "http://127.0.0.1:2", VIBE_SHUTDOWN_GRACE_MS: "2000", VIBE_STAGE: "dev" },
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
      shutdownGraceMs: 2000,
      stage: "dev",
    });
  });
});
