/**
 * The pipeline script (scripts/infra.ts): offline plans live apart from real ones, every
 * init survives a changed backend, and deploy applies a reviewed online plan or nothing.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { STACK_SERVICES } from "../../modules/stages";
import { EXIT } from "../../app/src/cli-kit";
import { DeployRefusedError, OFFLINE_SUBDIR, infraCli, planFiles, reviewedPlan, runInfra, synthStage, terraformProgressLine, type PlanMeta } from "../../scripts/infra";
import { OFFLINE_OVERRIDE_FILE, PROJECT_ROOT, REFUSING_ENDPOINT, offlineOverride, terraform } from "../../scripts/lib/terraform";
import { startMoto, type MotoServer } from "../support/moto";

jest.setTimeout(180_000);

function tmp(prefix: string): string {
  fs.mkdirSync(path.join(PROJECT_ROOT, ".tmp"), { recursive: true });
  return fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", prefix));
}

/** Runs `fn` with terraform replaced by a binary that does not exist: any call would fail differently. */
async function withoutTerraform<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.TERRAFORM_BIN;
  process.env.TERRAFORM_BIN = path.join(PROJECT_ROOT, ".tmp", "no-such-terraform");
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TERRAFORM_BIN;
    else process.env.TERRAFORM_BIN = saved;
  }
}

async function refusal(fn: () => Promise<unknown>): Promise<DeployRefusedError> {
  const err = await withoutTerraform(fn).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DeployRefusedError)) throw new Error(`expected DeployRefusedError, got ${String(err)}`);
  return err;
}

describe("offline override", () => {
  test("when written, it points exactly the stack's services at the refusing endpoint (one list, not a copy)", () => {
    const endpoints = (offlineOverride() as { provider: { aws: { endpoints: Record<string, string> } } }).provider.aws.endpoints;
    expect(Object.keys(endpoints)).toEqual([...STACK_SERVICES]);
    expect(new Set(Object.values(endpoints))).toEqual(new Set([REFUSING_ENDPOINT]));
  });
});

describe("deploy without a reviewed plan", () => {
  const outdir = tmp("infra-deploy-");
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test("when no plan was made, deploy refuses before running terraform, saying what to run", async () => {
    const err = await refusal(() => runInfra("deploy", "prod", { outdir }));
    expect(err.message).toMatch(/no reviewed plan/);
    expect(err.message).toContain("npm run infra -- plan --stage prod");
  });

  test("when asked for an offline deploy, it refuses", async () => {
    await refusal(() => runInfra("deploy", "prod", { outdir, offline: true }));
  });

  describe("when a plan file is there", () => {
    const stack = synthStage("dev", path.join(outdir, "fake"));
    const files = planFiles("dev", false);
    const planFile = path.join(stack.dir, files.plan);
    const writeMeta = (patch: Partial<PlanMeta> = {}): void => {
      const sha = (f: string): string => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
      const meta: PlanMeta = {
        kind: "online", stage: "dev", planFile: files.plan, planSha256: sha(planFile), configSha256: sha(path.join(stack.dir, "cdk.tf.json")),
        createdAt: new Date(0).toISOString(), ...patch,
      };
      fs.writeFileSync(path.join(stack.dir, files.meta), JSON.stringify(meta));
    };
    beforeEach(() => fs.writeFileSync(planFile, "plan bytes"));

    test("when it comes with the record of an online plan of the same config, it is the one deploy applies", () => {
      writeMeta();
      expect(reviewedPlan(stack)).toBe("dev.tfplan");
    });

    test.each([
      ["no record of how it was made", () => fs.rmSync(path.join(stack.dir, files.meta), { force: true }), /no reviewed plan/],
      ["the record of an offline plan", () => writeMeta({ kind: "offline" }), /not an online plan/],
      ["the record of a read-only (pull-request) plan", () => writeMeta({ kind: "read-only" }), /not an online plan/],
      ["a plan file changed after it was summarized", () => (writeMeta(), fs.writeFileSync(planFile, "other plan bytes")), /changed after it was planned/],
      ["a configuration synthesized differently since", () => writeMeta({ configSha256: "0".repeat(64) }), /configuration changed since/],
    ])("when it has %s, deploy refuses", async (_what, arrange, message) => {
      arrange();
      expect(() => reviewedPlan(stack)).toThrow(message);
    });
  });
});

describe("offline plan", () => {
  const parent = tmp("infra-offline-");
  // As on a fresh clone: neither cdktf.out nor its parent exists yet.
  const outdir = path.join(parent, "fresh-clone", "cdktf.out");
  afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

  test("when dev is planned offline on a fresh clone, its files are <stage>.offline.* in a separate folder, and deploy still finds no reviewed plan", async () => {
    expect(fs.existsSync(path.dirname(outdir))).toBe(false);
    const r = await runInfra("plan", "dev", { outdir, offline: true, progress: () => undefined });
    const offlineDir = path.join(outdir, OFFLINE_SUBDIR, "stacks", "vibe-digest-dev");
    expect(path.dirname(r.planFile!)).toBe(offlineDir);
    expect(fs.readdirSync(offlineDir).filter((f) => f.startsWith("dev.")).sort()).toEqual(
      ["dev.offline.plan.json", "dev.offline.plan.md", "dev.offline.plan.meta.json", "dev.offline.tfplan"],
    );
    expect(fs.existsSync(path.join(offlineDir, OFFLINE_OVERRIDE_FILE))).toBe(true);
    expect(fs.readFileSync(r.summaryFile!, "utf8")).toContain("not deployable");

    const err = await refusal(() => runInfra("deploy", "dev", { outdir }));
    expect(err.message).toMatch(/no reviewed plan/);
    const realDir = path.join(outdir, "stacks", "vibe-digest-dev");
    expect(fs.readdirSync(realDir).filter((f) => /tfplan|override|^\.terraform$/.test(f))).toEqual([]);
  });
});

describe("online plan of the local stage", () => {
  const outdir = tmp("infra-online-");
  let moto: MotoServer;
  const saved = process.env.VIBE_LOCAL_AWS_ENDPOINT;
  beforeAll(async () => {
    moto = await startMoto();
    process.env.VIBE_LOCAL_AWS_ENDPOINT = moto.url;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.VIBE_LOCAL_AWS_ENDPOINT;
    else process.env.VIBE_LOCAL_AWS_ENDPOINT = saved;
    await moto?.stop();
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  test("when the stack folder was initialized with another backend, plan re-initializes and leaves a plan deploy accepts", async () => {
    // The folder as an older offline run left it: initialized against another backend.
    const { stack } = await runInfra("synth", "local", { outdir });
    const other = path.join(stack.dir, "zz_other_backend_override.tf.json");
    fs.writeFileSync(other, JSON.stringify({ terraform: { backend: { local: { path: "elsewhere.tfstate" } } } }));
    await terraform(["init", "-input=false", "-no-color"], { cwd: stack.dir });
    fs.rmSync(other);

    const r = await runInfra("plan", "local", { outdir, progress: () => undefined });
    expect(path.basename(r.planFile!)).toBe("local.tfplan");
    expect(reviewedPlan(r.stack)).toBe("local.tfplan");
  });
});

describe("the infra command line", () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, isTTY: true, stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
  };

  test("when --help is given, it lists the subcommands, the environment and the exit codes", async () => {
    const o = io();
    expect(await infraCli(o).run(["--help"])).toBe(0);
    expect(o.out.join("")).toMatch(/synth[\s\S]*plan[\s\S]*deploy[\s\S]*list[\s\S]*CDKTF_OUTDIR[\s\S]*Exit codes:/);
  });

  test.each([
    [["plan", "--stage", "prod", "--ofline"], /unknown option '--ofline'[\s\S]*--offline/],
    [["plan", "prod"], /too many arguments|excess|unknown command|required option/i],
    [["deploy"], /required option '--stage <stage>'/],
    [["plan", "--stage", "staging"], /Allowed choices are local, dev, prod, bootstrap-dev, bootstrap-prod/],
    [["plan", "--stage", "dev", "--offline", "--read-only"], /cannot be used with/],
  ])("when run as %j, it refuses with exit 64 before touching terraform", async (argv, message) => {
    const o = io();
    expect(await withoutTerraform(() => infraCli(o).run(argv as string[]))).toBe(64);
    expect(o.err.join("")).toMatch(message);
  });

  test("when list is asked for, it names every stage's stack and each real stage's bootstrap stack, with their folders", async () => {
    const o = { ...io(), isTTY: false };
    expect(await infraCli(o).run(["list"])).toBe(0);
    const result = JSON.parse(o.out.join("")) as { stacks: { stage: string; stack: string }[] };
    expect(result.stacks.map((s) => [s.stage, s.stack])).toEqual([
      ["local", "vibe-digest-local"],
      ["dev", "vibe-digest-dev"],
      ["bootstrap-dev", "vibe-digest-bootstrap-dev"],
      ["prod", "vibe-digest-prod"],
      ["bootstrap-prod", "vibe-digest-bootstrap-prod"],
    ]);
  });

  test("when deploy has no reviewed plan, it exits 1 with DEPLOY_REFUSED saying what to run", async () => {
    const o = { ...io(), isTTY: false };
    const outdir = tmp("infra-cli-");
    const saved = process.env.CDKTF_OUTDIR;
    process.env.CDKTF_OUTDIR = outdir;
    try {
      expect(await withoutTerraform(() => infraCli(o).run(["deploy", "--stage", "prod"]))).toBe(EXIT.failed);
    } finally {
      if (saved === undefined) delete process.env.CDKTF_OUTDIR;
      else process.env.CDKTF_OUTDIR = saved;
      fs.rmSync(outdir, { recursive: true, force: true });
    }
    const last = JSON.parse(o.out.join("").trim().split("\n").pop()!) as { code: string; message: string };
    expect(last.code).toBe("DEPLOY_REFUSED");
    expect(last.message).toContain("npm run infra -- plan --stage prod");
  });

  test.each([
    ["aws_kms_key.x: Still creating... [10s elapsed]", true],
    ["aws_sqs_queue.q: Creation complete after 25s [id=https://...]", true],
    ["Apply complete! Resources: 80 added, 0 changed, 0 destroyed.", true],
    ["Terraform will perform the following actions:", false],
    ["", false],
  ])("when terraform prints %p, progress shows it: %p", (line, shown) => {
    expect(terraformProgressLine(line) !== undefined).toBe(shown);
  });
});
