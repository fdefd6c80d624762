/**
 * End to end: what `npm run local` does (moto, synth, terraform apply, operator secrets,
 * loopback feeds, one sender run), then the message moto recorded is parsed and checked,
 * and the demo secrets are searched for everywhere they must not be.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { simpleParser, type ParsedMail } from "mailparser";
import { DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT, LEDGER, parameterName } from "../../app/src/contract";
import { unsubscribeAddressOf, verifyUnsubscribeToken } from "../../app/src/unsubscribe";
import { localStage } from "../../modules/stages";
import { motoSentMessages, type MotoSentMessage } from "../support/moto";
import { LOCK_FILE, runLocal, type LocalRunResult } from "../../scripts/local";

/** Every file below `dir`, recursively, skipping terraform's provider symlinks. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.name === ".terraform") continue;
    if (entry.isDirectory()) out.push(...filesBelow(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

describe("npm run local (end to end on moto)", () => {
  let result: LocalRunResult;
  let recorded: MotoSentMessage[] = [];
  let demoSecrets: string[] = [];
  let ledgerItems: Record<string, AttributeValue>[] = [];
  /** What the operator put into email/unsubscribe_signing_key (read back as an endpoint would). */
  let signingKey = "";
  let mail: ParsedMail;
  const lines: string[] = [];

  /** What documented commands printed when run against the kept stack with its exports. */
  const kept: { env?: Record<string, string>; ledger?: CommandRun; secrets?: CommandRun; envFile?: string } = {};

  beforeAll(async () => {
    const workDir = path.join(__dirname, "..", "..", ".tmp", `e2e-${randomUUID()}`);
    const stop = new AbortController();
    result = await runLocal({
      workDir,
      keep: true,
      signal: stop.signal,
      // With --keep the stack stays up: run documented commands against it with only the
      // printed exports, then stop it as Ctrl-C would.
      onKept: async (env) => {
        kept.env = env;
        kept.envFile = fs.readFileSync(path.join(workDir, "env.sh"), "utf8");
        kept.ledger = await runCommand(["tsx", "app/src/cli.ts", "ledger", "status"], env);
        kept.secrets = await runCommand(["tsx", "scripts/secrets.ts", "status"], env);
        stop.abort();
      },
      log: (line) => lines.push(line),
      inspect: async (ctx) => {
        recorded = await motoSentMessages(ctx.motoUrl);
        demoSecrets = ctx.demoSecrets;
        const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: ctx.motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
        const out = await ddb.send(new ScanCommand({ TableName: ctx.ledgerTable, Limit: 100 }));
        ledgerItems = out.Items ?? [];
        ddb.destroy();
        const ssm = new SSMClient({ region: "us-east-1", endpoint: ctx.motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
        const key = await ssm.send(new GetParameterCommand({ Name: parameterName(DEFAULT_PARAMETER_ROOT, "unsubscribeSigningKey"), WithDecryption: true }));
        signingKey = key.Parameter?.Value ?? "";
        ssm.destroy();
      },
    });
    expect(recorded).toHaveLength(1);
    mail = await simpleParser(Buffer.from(recorded[0].raw_data));
  }, 240_000);

  afterAll(() => {
    if (result) fs.rmSync(result.workDir, { recursive: true, force: true });
  });

  test("when the run ends, it reports one sent message with the id moto recorded", () => {
    expect(result.summary.sent).toBe(1);
    expect(result.summary.failed).toBe(0);
    expect(result.summary.messageIds).toHaveLength(1);
    expect(lines).toContain(`SES message id: ${result.summary.messageIds[0]}`);
  });

  test("when the ledger is read back, the recipient is recorded as sent through SES with that message id", () => {
    expect(ledgerItems).toHaveLength(1);
    const item = ledgerItems[0];
    expect(item[LEDGER.partitionKey].S).toBe(result.summary.digestDate);
    expect(item[LEDGER.sortKey].S).toBe("reader@example.com");
    expect(item[LEDGER.attributes.state].S).toBe("sent");
    expect(item[LEDGER.attributes.provider].S).toBe("ses");
    expect(item[LEDGER.attributes.messageId].S).toBe(result.summary.messageIds[0]);
  });

  test("when the message is parsed, it is from the verified sender to the configured recipient", () => {
    expect(mail.from?.value[0].address).toBe("digest@vibedigest.example.com");
    const to = Array.isArray(mail.to) ? mail.to : [mail.to];
    expect(to.flatMap((a) => a?.value.map((v) => v.address))).toEqual(["reader@example.com"]);
  });

  test("when the message is parsed, its subject is the digest subject in New York time", () => {
    expect(mail.subject).toMatch(
      /^🧠 Daily Vibe Coding Digest – (January|February|March|April|May|June|July|August|September|October|November|December) \d{2}, \d{4} (1[0-2]|[1-9]):[0-5]\d (AM|PM) E[SD]T$/,
    );
  });

  test("when the message is parsed, both parts carry every sample feed's links and sources", () => {
    expect(mail.html).toBeTruthy();
    expect(mail.text).toBeTruthy();
    for (const link of [
      "https://vibe.example.com/posts/tests-first",
      "https://agents.example.org/2026/11/whole-repo",
    ]) {
      expect(mail.html).toContain(`href="${link}"`);
      expect(mail.text).toContain(link);
    }
    for (const source of ["Vibe Coding Weekly", "Agents Journal"]) {
      expect(mail.html).toContain(source);
      expect(mail.text).toContain(source);
    }
    // three items per feed: the fourth RSS item is left out
    expect(mail.text).not.toContain("https://vibe.example.com/posts/older");
  });

  test("when the message is parsed, its one-click List-Unsubscribe is the stage's https target signed for the recipient", () => {
    const target = localStage().unsubscribeUrl!;
    const list = mail.headers.get("list") as { unsubscribe?: { url?: string }; "unsubscribe-post"?: { name?: string } };
    expect(list["unsubscribe-post"]?.name).toBe("List-Unsubscribe=One-Click");
    const url = new URL(list.unsubscribe!.url!);
    expect(`${url.origin}${url.pathname}`).toBe(target);
    const address = unsubscribeAddressOf(url.searchParams.get("u")!);
    expect(address).toBe("reader@example.com");
    expect(demoSecrets).toContain(signingKey);
    expect(verifyUnsubscribeToken(signingKey, address, url.searchParams.get("t")!)).toBe(true);
  });

  test("when the run wrote the rendered email, the .eml and .html files exist and match the sent subject", () => {
    const { eml, html } = result.summary.files ?? {};
    expect(eml && fs.existsSync(eml)).toBeTruthy();
    expect(html && fs.existsSync(html)).toBeTruthy();
    expect(fs.readFileSync(html!, "utf8")).toContain("Vibe Coding Weekly");
  });

  test("when the demo secrets were put, none appears in output, cdktf.out, state or the rendered mail", () => {
    expect(demoSecrets.length).toBeGreaterThanOrEqual(3); // access key, SendGrid key, unsubscribe signing key
    const haystacks = [result.senderOutput, lines.join("\n"), recorded[0].raw_data];
    for (const file of filesBelow(result.workDir)) haystacks.push(fs.readFileSync(file, "utf8"));
    expect(haystacks.length).toBeGreaterThan(4);
    for (const secret of demoSecrets) {
      for (const text of haystacks) expect(text.includes(secret)).toBe(false);
    }
  });

  test("when the run is over, progress was shown step by step with timings", () => {
    expect(lines.filter((l) => /^\[\d\/7\] .*: done in \d+\.\d s$/.test(l))).toHaveLength(7);
  });

  test("when kept, it printed the exports and wrote them to env.sh (loopback URLs and the emulator's test keys only)", () => {
    const env = kept.env!;
    expect(env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.VIBE_LEDGER_TABLE).toBe("vibe-digest-local-delivery-ledger");
    for (const [k, v] of Object.entries(env)) {
      expect(lines).toContain(`  export ${k}='${v}'`);
      expect(kept.envFile).toContain(`export ${k}='${v}'`);
    }
    for (const secret of demoSecrets) expect(kept.envFile!.includes(secret)).toBe(false);
  });

  test("when kept, the documented operator commands work against it with only those exports", () => {
    expect(kept.ledger!.code).toBe(0);
    const ledger = JSON.parse(kept.ledger!.stdout.trim().split("\n").pop()!) as { states: Record<string, number> };
    expect(ledger.states).toEqual({ sent: 1 });
    expect(kept.secrets!.code).toBe(0);
    expect(kept.secrets!.stdout).toContain("unsubscribe_signing_key");
  });

  test("when a kept run is stopped, moto, the env file and the lock are gone", () => {
    expect(fs.existsSync(path.join(result.workDir, "env.sh"))).toBe(false);
    expect(fs.existsSync(path.join(result.workDir, LOCK_FILE))).toBe(false);
    const pid = Number(/moto http:\/\/127\.0\.0\.1:\d+ \(pid (\d+)\)/.exec(lines.join("\n"))?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

interface CommandRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a project command (node_modules/.bin/<cmd>) with a clean environment plus `env`; bounded. */
function runCommand([cmd, ...args]: string[], env: Record<string, string>): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const root = path.join(__dirname, "..", "..");
    const child = spawn(path.join(root, "node_modules", ".bin", cmd!), args, {
      cwd: root,
      env: { PATH: `${path.join(root, "node_modules", ".bin")}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", AWS_EC2_METADATA_DISABLED: "true", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
