import fs from "node:fs";
import path from "node:path";
import { Testing } from "cdktf";
import { PARAMETERS } from "../../app/src/contract";
import { buildApp, synthesizeApp } from "../../modules/app";
import { STACK_OUTPUTS } from "../../modules/digest-stack";
import { ConfigError } from "../../modules/errors";
import { STACK_SERVICES, localStage, prodStage } from "../../modules/stages";
import { DigestStack } from "../../modules/digest-stack";
import { resources, statementsOf, onlyResource, totalResources, type TfJson } from "../support/tf-json";

const MOTO = "http://127.0.0.1:4599";
const FEEDS = "http://127.0.0.1:4600/";

function stackJson(stage: "local" | "prod"): TfJson {
  const { stacks } = buildApp({ outdir: "unused", stages: [stage], local: { awsEndpoint: MOTO, feedBaseUrl: FEEDS } });
  return JSON.parse(Testing.synth(stacks[0]!, true)) as TfJson;
}

function paramValue(json: TfJson, rel: string): string {
  const p = resources(json, "aws_ssm_parameter").find((r) => r.props.name === `/vibecoding/${rel}`);
  if (!p) throw new Error(`no parameter ${rel}`);
  return p.props.value as string;
}

describe("DigestStack", () => {
  const local = stackJson("local");
  const prod = stackJson("prod");

  describe("local stage", () => {
    const provider = local.provider!.aws![0]!;

    test("when synthesized, every service the stack uses points at the moto URL", () => {
      expect(provider.endpoints).toEqual([Object.fromEntries(STACK_SERVICES.map((s) => [s, MOTO]))]);
    });

    test("when synthesized, the provider uses static test keys, skips every AWS-only check and caps retries at 2", () => {
      expect(provider).toMatchObject({
        region: "us-east-1",
        access_key: "test",
        secret_key: "test",
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: "true",
        s3_use_path_style: true,
        max_retries: 2,
      });
    });

    test("when synthesized, it keeps its state in a local backend", () => {
      expect(local.terraform!.backend).toEqual({ local: { path: "terraform.tfstate" } });
    });

    test("when synthesized, the parameters hold the local stage's values", () => {
      expect(paramValue(local, "aws/region")).toBe("us-east-1");
      expect(paramValue(local, "email/from_address")).toBe("digest@vibedigest.example.com");
      expect(paramValue(local, "email/to_address")).toBe("reader@example.com");
      expect(paramValue(local, "email/use_ses")).toBe("true");
      expect(paramValue(local, "email/ses_percent")).toBe("100");
    });

    test("when synthesized, the feeds parameter is the JSON list of the three sample feeds on the feed base URL", () => {
      expect(JSON.parse(paramValue(local, "digest/feeds"))).toEqual([
        { url: "http://127.0.0.1:4600/vibe-blog.rss", name: "Vibe Coding Weekly" },
        { url: "http://127.0.0.1:4600/agents-journal.atom", name: "Agents Journal" },
        { url: "http://127.0.0.1:4600/release-notes.json", name: "Editor Release Notes" },
      ]);
    });

    test("when the moto URL is not loopback, it throws URL_INVALID", () => {
      expect(() => buildApp({ outdir: "unused", stages: ["local"], local: { awsEndpoint: "http://moto.example.com:5000" } })).toThrow(
        expect.objectContaining({ code: "URL_INVALID" }) as unknown as ConfigError,
      );
    });
  });

  describe("prod stage", () => {
    const provider = prod.provider!.aws![0]!;

    test("when synthesized, the provider is real AWS: region and tags only", () => {
      expect(Object.keys(provider).sort()).toEqual(["default_tags", "region"]);
      expect(provider.region).toBe("us-east-1");
    });

    test("when synthesized, nothing emulator-specific appears anywhere in its JSON", () => {
      const text = JSON.stringify(prod);
      for (const needle of ["127.0.0.1", "localhost", "skip_credentials_validation", "skip_requesting_account_id", '"access_key"', '"secret_key"', "endpoints", "max_retries"]) {
        expect(text).not.toContain(needle);
      }
    });

    test("when synthesized, its SecureStrings are write-only like every stage's", () => {
      const secure = resources(prod, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString");
      expect(secure).toHaveLength(Object.values(PARAMETERS).filter((p) => p.secret).length);
      for (const p of secure) expect(p.props).not.toHaveProperty("value");
    });
  });

  test.each(["local", "prod"] as const)("when the %s stage is synthesized, it exports the outputs scripts read", (stage) => {
    const json = stage === "local" ? local : prod;
    expect(Object.keys(json.output ?? {}).sort()).toEqual(Object.values(STACK_OUTPUTS).sort());
    expect(json.output![STACK_OUTPUTS.parameterRoot]!.value).toBe("/vibecoding");
    expect(json.output![STACK_OUTPUTS.region]!.value).toBe("us-east-1");
    expect(json.output![STACK_OUTPUTS.fromAddress]!.value).toBe("digest@vibedigest.example.com");
  });

  test("when synthesized, the task role's statements are exactly the seed's three, by sid", () => {
    const st = statementsOf(local, onlyResource(local, "aws_iam_role_policy").props.policy);
    expect(st.map((s) => s.sid)).toEqual(["SendDigestEmail", "ReadDigestParameters", "DecryptDigestParametersViaSsm"]);
  });

  test("when synthesized, local and prod declare the same resources", () => {
    expect(totalResources(local)).toBe(totalResources(prod));
  });

  test.each([
    ["a percent above 100", { sesPercent: 150 }, "PERCENT_OUT_OF_RANGE"],
    ["no recipients", { toAddresses: [] }, "VALUE_INVALID"],
    ["a bad region", { region: "nowhere" }, "REGION_INVALID"],
  ])("when the stage has %s, it throws %s", (_what, patch, code) => {
    const app = Testing.app();
    expect(() => new DigestStack(app, { stage: { ...prodStage(), ...patch } })).toThrow(
      expect.objectContaining({ code }) as unknown as ConfigError,
    );
  });

  test("when synthesizeApp runs, it writes one stack folder per stage and says where", () => {
    const outdir = fs.mkdtempSync(path.join(__dirname, "..", "..", ".tmp", "synth-"));
    try {
      const stacks = synthesizeApp({ outdir, local: { awsEndpoint: MOTO, feedBaseUrl: FEEDS } });
      expect(stacks.map((s) => s.stackName)).toEqual(["vibe-digest-local", "vibe-digest-prod"]);
      for (const s of stacks) expect(fs.existsSync(path.join(s.dir, "cdk.tf.json"))).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test("when localStage is given a state file, the local backend uses it", () => {
    expect(localStage({ stateFile: "/abs/state.tfstate" }).backend).toEqual({ kind: "local", path: "/abs/state.tfstate" });
  });
});
