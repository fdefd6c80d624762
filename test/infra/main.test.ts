import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { readStackJson, resources } from "../support/tf-json";

const run = promisify(execFile);

describe("main.ts (node scripts/synth.mjs)", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "main-"));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  beforeAll(async () => {
    await run(process.execPath, ["scripts/synth.mjs"], {
      cwd: PROJECT_ROOT,
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        CDKTF_OUTDIR: outdir,
        VIBE_LOCAL_AWS_ENDPOINT: "http://127.0.0.1:47001",
        VIBE_LOCAL_FEED_BASE_URL: "http://127.0.0.1:47002",
      },
    });
  });

  test("when CDKTF_OUTDIR is set, it writes every stage's stack and every real stage's bootstrap stack there", () => {
    expect(fs.readdirSync(path.join(outdir, "stacks")).sort()).toEqual(["vibe-digest-bootstrap-dev", "vibe-digest-bootstrap-prod", "vibe-digest-dev", "vibe-digest-local", "vibe-digest-prod"]);
  });

  test("when VIBE_LOCAL_AWS_ENDPOINT is set, the local provider points at it", () => {
    const json = readStackJson(path.join(outdir, "stacks", "vibe-digest-local"));
    expect(Object.values(json.provider!.aws![0]!.endpoints[0]!)).toEqual(expect.arrayContaining(["http://127.0.0.1:47001"]));
    expect(new Set(Object.values(json.provider!.aws![0]!.endpoints[0]!))).toEqual(new Set(["http://127.0.0.1:47001"]));
  });

  test("when VIBE_LOCAL_FEED_BASE_URL is set, the local feeds parameter uses it", () => {
    const json = readStackJson(path.join(outdir, "stacks", "vibe-digest-local"));
    const feeds = resources(json, "aws_ssm_parameter").find((p) => p.props.name === "/vibecoding/digest/feeds")!;
    for (const f of JSON.parse(feeds.props.value) as { url: string }[]) expect(f.url.startsWith("http://127.0.0.1:47002/")).toBe(true);
  });

  test("when synthesized twice, the JSON is byte-identical", async () => {
    const file = path.join(outdir, "stacks", "vibe-digest-prod", "cdk.tf.json");
    const first = fs.readFileSync(file, "utf8");
    await run(process.execPath, ["scripts/synth.mjs"], { cwd: PROJECT_ROOT, timeout: 60_000, env: { PATH: process.env.PATH, CDKTF_OUTDIR: outdir } });
    expect(fs.readFileSync(file, "utf8")).toBe(first);
  });
});
