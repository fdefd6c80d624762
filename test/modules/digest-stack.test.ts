import fs from "node:fs";
import path from "node:path";
import { Testing } from "cdktf";
import { PARAMETERS } from "../../app/src/contract";
import { EMULATOR_GAPS, omittedResourceTypes, ALL_EMULATOR_GAPS } from "../../modules/emulator-gaps";
import { buildApp, synthesizeApp } from "../../modules/app";
import { STACK_OUTPUTS, stackResourceNames } from "../../modules/digest-stack";
import { ConfigError } from "../../modules/errors";
import { STACK_SERVICES, devStage, localStage, prodStage, serviceOfResourceType } from "../../modules/stages";
import { DigestStack } from "../../modules/digest-stack";
import { resources, statementBySid, statementsOf, synthStack, type TfJson } from "../support/tf-json";

const MOTO = "http://127.0.0.1:4599";
const FEEDS = "http://127.0.0.1:4600/";

function stackJson(stage: "local" | "dev" | "prod"): TfJson {
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
  const dev = stackJson("dev");
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
        // asked of moto's STS: security-group references only converge with a known account
        skip_requesting_account_id: false,
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

    test("when synthesized, every resource type's service has an endpoint at moto (nothing can reach real AWS)", () => {
      const types = [...Object.keys(local.resource!), ...Object.keys(prod.resource!)];
      const unmapped = types.filter((t) => !serviceOfResourceType(t) || !(STACK_SERVICES as readonly string[]).includes(serviceOfResourceType(t)!));
      expect(unmapped).toEqual([]);
      expect(Object.keys(provider.endpoints[0])).toEqual(expect.arrayContaining(types.map((t) => serviceOfResourceType(t)!)));
    });

    test("when synthesized with its https unsubscribe target, it declares the signing key write-only under the parameters CMK, readable by the task role", () => {
      const p = resources(local, "aws_ssm_parameter").find((r) => r.props.name === "/vibecoding/email/unsubscribe_signing_key")!;
      expect(p.props).toMatchObject({ type: "SecureString", value_wo: "unset" });
      expect(p.props).not.toHaveProperty("value");
      const cmk = resources(local, "aws_kms_key").find((k) => /SecureStrings/.test(String(k.props.description)))!;
      expect(p.props.key_id).toBe(`\${${cmk.address}.arn}`);
      const role = resources(local, "aws_iam_role").find((r) => r.props.name === "vibe-digest-local-task")!;
      const st = statementsOf(local, resources(local, "aws_iam_role_policy").find((x) => x.props.role === `\${${role.address}.id}`)!.props.policy);
      expect(statementBySid(st, "ReadDigestParameters").resources).toEqual(expect.arrayContaining([expect.stringMatching(/:parameter\/vibecoding\/\*$/)]));
      expect(statementBySid(st, "DecryptDigestParametersViaSsm").condition).toContainEqual({ test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/vibe-digest-local-parameters"] });
    });

    test("when the moto URL is not loopback, it throws URL_INVALID", () => {
      expect(() => buildApp({ outdir: "unused", stages: ["local"], local: { awsEndpoint: "http://moto.example.com:5000" } })).toThrow(
        expect.objectContaining({ code: "URL_INVALID" }) as unknown as ConfigError,
      );
    });
  });

  describe.each([
    ["dev", dev],
    ["prod", prod],
  ])("%s stage", (name, json) => {
    const provider = json.provider!.aws![0]!;

    test("when synthesized, the provider is real AWS: region, tags and the stage's account as the only allowed one", () => {
      expect(Object.keys(provider).sort()).toEqual(["allowed_account_ids", "default_tags", "region"]);
      expect(provider.region).toBe("us-east-1");
      expect(provider.allowed_account_ids).toEqual([{ dev: devStage(), prod: prodStage() }[name as "dev" | "prod"].account]);
    });

    test("when synthesized, its state is in S3, encrypted, with S3-native locking", () => {
      expect(json.terraform!.backend.s3).toMatchObject({
        bucket: `vibe-digest-terraform-state-${name}`,
        key: `vibe-digest/${name}/terraform.tfstate`,
        region: "us-east-1",
        encrypt: true,
        use_lockfile: true,
      });
    });

    test("when synthesized, it keeps everything the emulator cannot apply", () => {
      for (const type of omittedResourceTypes(ALL_EMULATOR_GAPS)) expect(Object.keys(json.resource!)).toContain(type);
    });

    test("when synthesized, nothing emulator-specific appears anywhere in its JSON", () => {
      const text = JSON.stringify(json);
      const needles = ["127.0.0.1", "localhost", "skip_credentials_validation", "skip_requesting_account_id", '"access_key"', '"secret_key"', '"endpoints"', "max_retries"];
      expect(needles.filter((n) => text.includes(n))).toEqual([]);
    });

    test("when synthesized in task-role mode, only the SendGrid key is a SecureString, write-only", () => {
      const secure = resources(json, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString");
      expect(secure.map((p) => p.props.name)).toEqual(["/vibecoding/sendgrid/api_key"]);
      for (const p of secure) expect(p.props).not.toHaveProperty("value");
    });

    test("when synthesized, the unsubscribe parameter is a mailto in the stage's domain", () => {
      expect(paramValue(json, "email/unsubscribe_url")).toMatch(/^mailto:unsubscribe@(dev\.)?vibedigest\.example\.com$/);
    });

    test("when synthesized, the configuration_set parameter names the stage's configuration set", () => {
      expect(paramValue(json, "email/configuration_set")).toBe(`vibe-digest-${name}-digest`);
    });
  });

  test("when the local stage is synthesized, it lacks exactly the resource types listed as emulator gaps", () => {
    const all = new Set([...Object.keys(prod.resource!), ...Object.keys(dev.resource!)]);
    const missing = [...all].filter((t) => !(t in local.resource!)).sort();
    // Route53 records need a hosted zone, which the local stage does not have (no DNS on loopback).
    expect(missing).toEqual([...omittedResourceTypes(ALL_EMULATOR_GAPS), "aws_route53_record", "aws_eip", "aws_internet_gateway", "aws_nat_gateway", "aws_route"].sort());
  });

  test("when the gaps are listed, each has a reason that says what was measured", () => {
    for (const gap of Object.values(EMULATOR_GAPS)) expect(gap.reason).toMatch(/moto 5\.2\.1/);
  });

  test("when the local stage is synthesized, it keeps the seed's access-key SecureStrings", () => {
    expect(resources(local, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString")).toHaveLength(Object.values(PARAMETERS).filter((p) => p.secret).length);
  });

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, it exports the outputs scripts read", (stage) => {
    const json = { local, dev, prod }[stage];
    expect(Object.keys(json.output ?? {}).sort()).toEqual(Object.values(STACK_OUTPUTS).sort());
    expect(json.output![STACK_OUTPUTS.parameterRoot]!.value).toBe("/vibecoding");
    expect(json.output![STACK_OUTPUTS.region]!.value).toBe("us-east-1");
    expect(json.output![STACK_OUTPUTS.fromAddress]!.value).toMatch(/^digest@(dev\.)?vibedigest\.example\.com$/);
  });

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, the task role's actions equal the checked-in list", (stage) => {
    const json = { local, dev, prod }[stage];
    const role = resources(json, "aws_iam_role").find((r) => r.props.name === `vibe-digest-${stage}-task`)!;
    const policy = resources(json, "aws_iam_role_policy").find((p) => p.props.role === `\${${role.address}.id}`)!;
    const actions = [...new Set(statementsOf(json, policy.props.policy).flatMap((s) => s.actions ?? []))].sort();
    const expected = fs
      .readFileSync(path.join(__dirname, "task-role-actions.txt"), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"));
    expect(actions).toEqual(expected);
  });

  test("when synthesized, the task role's statements are the seed's three needs plus quota, rollback flag and ledger, by sid", () => {
    const role = resources(local, "aws_iam_role").find((r) => r.props.name === "vibe-digest-local-task")!;
    const policy = resources(local, "aws_iam_role_policy").find((p) => p.props.role === `\${${role.address}.id}`)!;
    expect(statementsOf(local, policy.props.policy).map((s) => s.sid)).toEqual([
      "SendDigestEmail", "ReadSendQuota", "ReadDigestParameters", "DecryptDigestParametersViaSsm",
      "WriteRuntimeParameters", "DeliveryLedgerReadWrite", "DeliveryLedgerKeyViaDynamoDb",
    ]);
  });

  /** Statements of the key policy of the key whose description matches `what`. */
  function keyPolicyOf(json: TfJson, what: RegExp) {
    const key = resources(json, "aws_kms_key").find((k) => what.test(String(k.props.description)))!;
    const policy = resources(json, "aws_kms_key_policy").find((p) => p.props.key_id === `\${${key.address}.key_id}`)!;
    return statementsOf(json, policy.props.policy);
  }

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, the parameters key allows no kms:CreateGrant to anyone", (stage) => {
    const json = { local, dev, prod }[stage];
    const statements = keyPolicyOf(json, /SecureStrings/);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter((s) => (s.actions ?? []).some((a) => /^kms:(CreateGrant|\*)$/i.test(a))).map((s) => s.sid)).toEqual([]);
  });

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, the operations key allows kms:CreateGrant only for AWS resources (ECR, DynamoDB) and to Fargate for decrypt-only grants on this cluster", (stage) => {
    const json = { local, dev, prod }[stage];
    const grants = keyPolicyOf(json, /operations|logs, topics/).filter((s) => (s.actions ?? []).includes("kms:CreateGrant"));
    expect(grants.map((g) => [g.sid, g.principals])).toEqual([
      ["GrantsForAwsServicesOnly", [{ type: "AWS", identifiers: [expect.stringMatching(/:root$/)] }]],
      ["FargateEphemeralStorageGrants", [{ type: "Service", identifiers: ["fargate.amazonaws.com"] }]],
    ]);
    expect(grants[0]!.condition).toEqual([{ test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }]);
    expect(grants[1]!.condition).toContainEqual({ test: "ForAllValues:StringEquals", variable: "kms:GrantOperations", values: ["Decrypt"] });
    expect(grants[1]!.condition).toContainEqual({ test: "StringEquals", variable: "kms:EncryptionContext:aws:ecs:clusterName", values: [`vibe-digest-${stage}`] });
  });

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, no role may call cloudwatch:PutMetricData (the sender emits EMF log lines)", (stage) => {
    const json = { local, dev, prod }[stage];
    const actions = Object.values(json.data?.aws_iam_policy_document ?? {}).flatMap((d) => ((d.statement ?? []) as { actions?: string[] }[]).flatMap((s) => s.actions ?? []));
    expect(actions.filter((a) => /^cloudwatch:/i.test(a))).toEqual([]);
  });

  describe("metric Stage dimension", () => {
    const NAMESPACE = "VibeDigest";
    const ownDimensions = (json: TfJson) =>
      resources(json, "aws_cloudwatch_metric_alarm").flatMap((a) => [
        ...(a.props.namespace === NAMESPACE ? [{ alarm: a.props.alarm_name as string, dimensions: a.props.dimensions }] : []),
        ...((a.props.metric_query ?? []) as { metric?: { namespace: string; dimensions?: unknown } }[])
          .filter((q) => q.metric?.namespace === NAMESPACE)
          .map((q) => ({ alarm: a.props.alarm_name as string, dimensions: q.metric!.dimensions })),
      ]);

    test("when the prod stage is synthesized, every alarm on the VibeDigest metrics selects {Stage: \"prod\"}", () => {
      const own = ownDimensions(prod);
      expect(own.length).toBe(12); // 10 alarms; the SES failure rate and the feed failure share read two metrics each
      for (const o of own) expect(o).toEqual({ alarm: o.alarm, dimensions: { Stage: "prod" } });
    });

    test("when the dev stage is synthesized, its alarms select {Stage: \"dev\"}", () => {
      for (const o of ownDimensions(dev)) expect(o.dimensions).toEqual({ Stage: "dev" });
    });

    test("when the prod stage is synthesized, the task definition's environment has VIBE_STAGE=prod", () => {
      const td = resources(prod, "aws_ecs_task_definition")[0]!;
      const env = JSON.parse(td.props.container_definitions as string)[0].environment as { name: string; value: string }[];
      expect(env.filter((e) => e.name === "VIBE_STAGE")).toEqual([{ name: "VIBE_STAGE", value: "prod" }]);
    });
  });

  test("when a task-role stage has an https unsubscribe target, it declares the SendGrid key and the unsubscribe signing key, both write-only", () => {
    const json = synthStack(new DigestStack(Testing.app(), { stage: { ...devStage(), unsubscribeUrl: "https://dev.vibedigest.example.com/unsubscribe" } }));
    const secure = resources(json, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString");
    expect(secure.map((p) => p.props.name).sort()).toEqual(["/vibecoding/email/unsubscribe_signing_key", "/vibecoding/sendgrid/api_key"]);
    for (const p of secure) expect(p.props).not.toHaveProperty("value");
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
      expect(stacks.map((s) => [s.target, s.stackName])).toEqual([
        ["local", "vibe-digest-local"], ["dev", "vibe-digest-dev"], ["prod", "vibe-digest-prod"],
        ["bootstrap-dev", "vibe-digest-bootstrap-dev"], ["bootstrap-prod", "vibe-digest-bootstrap-prod"],
      ]);
      for (const s of stacks) expect(fs.existsSync(path.join(s.dir, "cdk.tf.json"))).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test.each(["local", "dev", "prod"] as const)("when the %s stage is synthesized, the names commands look up (stackResourceNames) are the stack's", (stage) => {
    const json = { local, dev, prod }[stage];
    const config = { local: localStage(), dev: devStage(), prod: prodStage() }[stage];
    const n = stackResourceNames(config);
    const names = (type: string, attr = "name") => resources(json, type).map((r) => r.props[attr]);
    expect(names("aws_sns_topic")).toContain(n.alarmTopic);
    expect(names("aws_ecr_repository")).toEqual([n.repository]);
    expect(names("aws_scheduler_schedule_group")).toEqual([n.scheduleGroup]);
    expect(names("aws_scheduler_schedule").sort()).toEqual([...n.schedules].sort());
    expect(names("aws_dynamodb_table")).toEqual([n.ledgerTable]);
    expect(names("aws_ecs_cluster")).toEqual([n.cluster]);
  });

  test("when localStage is given a state file, the local backend uses it", () => {
    expect(localStage({ stateFile: "/abs/state.tfstate" }).backend).toEqual({ kind: "local", path: "/abs/state.tfstate" });
  });
});
