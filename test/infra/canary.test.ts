/**
 * Canary: a distinctive value is passed wherever a caller could plausibly hand the stack
 * a secret (secret-looking env vars, a secret parameter's value, credentials inside a
 * URL). It must never reach cdktf.out, and errors must name the prop, not the value.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { App } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { TerraformStack } from "cdktf";
import { ConfigError } from "../../modules/errors";
import { ParameterStore } from "../../modules/parameter-store";
import { DigestStack } from "../../modules/digest-stack";
import { localStage, prodStage } from "../../modules/stages";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";

const CANARY = "CANARY-7f3a9c-do-not-leak";
const run = promisify(execFile);

function tmpdir(prefix: string): string {
  fs.mkdirSync(path.join(PROJECT_ROOT, ".tmp"), { recursive: true });
  return fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", prefix));
}

/** Every file below `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const hits: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (fs.readFileSync(file).includes(needle)) hits.push(file);
  }
  return hits;
}

function caught(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("secret canary", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test("when secret-looking env vars hold the canary, `node scripts/synth.mjs` writes none of it to cdktf.out", async () => {
    const outdir = tmpdir("canary-env-");
    dirs.push(outdir);
    await run(process.execPath, ["scripts/synth.mjs"], {
      cwd: PROJECT_ROOT,
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        CDKTF_OUTDIR: outdir,
        AWS_ACCESS_KEY_ID: `AKIA${CANARY}`,
        AWS_SECRET_ACCESS_KEY: CANARY,
        AWS_SESSION_TOKEN: CANARY,
        SENDGRID_API_KEY: CANARY,
        VIBE_SENDGRID_API_KEY: CANARY,
        TF_VAR_sendgrid_api_key: CANARY,
      },
    });
    expect(fs.existsSync(path.join(outdir, "stacks", "vibe-digest-prod", "cdk.tf.json"))).toBe(true);
    expect(filesContaining(outdir, CANARY)).toEqual([]);
  });

  test("when the canary is passed as a secret parameter's value, synth refuses it without echoing it", () => {
    const outdir = tmpdir("canary-param-");
    dirs.push(outdir);
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "canary");
    new AwsProvider(stack, "aws", { region: "us-east-1" });
    const err = caught(
      () =>
        new ParameterStore(stack, "parameters", {
          namePrefix: "canary",
          region: "us-east-1",
          account: "111111111111",
          values: {
            awsRegion: "us-east-1",
            fromAddress: "digest@vibedigest.example.com",
            toAddress: "reader@example.com",
            feeds: '[{"url":"https://a.example.com/x.rss","name":"A"}]',
            sendgridApiKey: CANARY,
          } as never,
        }),
    );
    expect(err.code).toBe("SECRET_VALUE_REJECTED");
    expect(err.subject).toBe("values.sendgridApiKey");
    expect(`${err.message} ${err.stack}`).not.toContain(CANARY);
    app.synth();
    expect(filesContaining(outdir, CANARY)).toEqual([]);
  });

  test.each([
    ["a feed URL with credentials", "URL_INVALID", { ...prodStage(), feeds: [{ url: `https://reader:${CANARY}@feeds.example.com/x.rss`, name: "X" }] }],
    ["a moto URL with credentials", "URL_INVALID", localStage({ awsEndpoint: `http://user:${CANARY}@127.0.0.1:5055` })],
    ["the canary as the from address", "EMAIL_ADDRESS_INVALID", { ...prodStage(), fromAddress: CANARY }],
    ["the canary as a recipient", "EMAIL_ADDRESS_INVALID", { ...prodStage(), toAddresses: [CANARY] }],
  ])("when given %s, it throws %s and the error holds no trace of the value", (_what, code, stage) => {
    const err = caught(() => new DigestStack(new App({ outdir: path.join(PROJECT_ROOT, ".tmp", "never-written") }), { stage }));
    expect(err.code).toBe(code);
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain(CANARY);
  });
});
