/**
 * The local stage applied to moto (the suite's shared applied stage, test/support/shared-stage.ts,
 * applied as `npm run local` applies it): a second plan is empty, the state never holds a
 * SecureString's value, not even after an operator has put a real one and Terraform
 * refreshed, and the doctor reads the stage right. Terraform runs in this file's own copy
 * of the applied stack; what the doctor tests change in moto is restored before the lease
 * ends.
 */
import fs from "node:fs";
import path from "node:path";
import { GetParameterHistoryCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT, LEDGER, SECRET_PLACEHOLDER, parameterName } from "../../app/src/contract";
import { synthesizeStages } from "../../modules/app";
import { localStage } from "../../modules/stages";
import { summarizePlan, type PlanLike } from "../../scripts/plan-summary";
import { checkInvariants, containerDefinitions, planToTfJson } from "../support/invariants";
import type { PlanJson } from "../support/terraform-offline";
import { PROJECT_ROOT, terraform } from "../../scripts/lib/terraform";
import { copyStage, leaseStage, sharedLocalStage, sharedStageOptions, snapshotParameters, withStageLease, type SharedLocalStage } from "../support/shared-stage";
import { DeleteItemCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchDeleteImageCommand, ECRClient, PutImageCommand } from "@aws-sdk/client-ecr";
import type { CliIo } from "../../app/src/cli-kit";
import { DeliveryLedger } from "../../app/src/ledger";
import { digestDate } from "../../app/src/render";
import { stackResourceNames } from "../../modules/digest-stack";
import { SECRET_KEYS, putSecret } from "../../scripts/lib/secrets";
import { doctorCli } from "../../scripts/doctor";
import type { CheckResult } from "../../scripts/lib/doctor";

// Generous: a test may wait for the shared apply or for another file's turn at the stage.
jest.setTimeout(600_000);

const CANARY = "CANARY-b41e-operator-put-secret";
/** A random suffix for fake key-shaped test values (assembled at run time, never committed). */
const randomTail = () => Math.random().toString(36).slice(2, 14);
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

interface StateResource {
  type: string;
  instances: { attributes: Record<string, unknown> }[];
}

/** "# aws_x.y will be updated in-place" lines of a plan, for a readable failure. */
function changedAddresses(planOutput: string): string[] {
  return planOutput.split("\n").filter((l) => /^\s*# \S+ (will be|must be)/.test(l)).map((l) => l.trim());
}

function readState(dir: string): { text: string; resources: StateResource[] } {
  const text = fs.readFileSync(path.join(dir, "terraform.tfstate"), "utf8");
  return { text, resources: (JSON.parse(text) as { resources: StateResource[] }).resources };
}

describe("local stage applied to moto", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "local-apply-"));
  let stage: SharedLocalStage;
  let motoUrl = "";
  let dir = "";
  let ssm: SSMClient;

  beforeAll(async () => {
    stage = await sharedLocalStage();
    motoUrl = stage.motoUrl;
    dir = copyStage(stage, path.join(outdir, "applied"));
    ssm = new SSMClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
  });
  afterAll(() => {
    ssm?.destroy();
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  test.each(["/vibecoding/sendgrid/api_key", "/vibecoding/email/unsubscribe_signing_key"])("when applied, the SecureString %s in moto holds the non-secret placeholder as Terraform wrote it", async (name) => {
    // The first version is Terraform's (later ones are operators' or tests', restored or not).
    const r = await ssm.send(new GetParameterHistoryCommand({ Name: name, WithDecryption: true }));
    const first = r.Parameters?.find((p) => p.Version === 1);
    expect(first?.Type).toBe("SecureString");
    expect(first?.Value).toBe(SECRET_PLACEHOLDER);
  });

  test("when applied, the state has no value for any SecureString", () => {
    const secure = readState(dir).resources.filter((r) => r.type === "aws_ssm_parameter").flatMap((r) => r.instances.map((i) => i.attributes)).filter((a) => a.type === "SecureString");
    expect(secure).toHaveLength(4); // access-key pair, SendGrid key, unsubscribe signing key
    for (const a of secure) {
      expect(a.value ?? "").toBe("");
      expect(a.value_wo ?? null).toBeNull();
      expect(a.insecure_value ?? null).toBeNull();
    }
  });

  /** One refreshing plan of the unchanged stack (read by two tests), under a shared lease: no one changes the stage meanwhile. */
  let planAgain: Promise<{ code: number; stdout: string }> | undefined;
  const plannedAgain = () =>
    (planAgain ??= withStageLease("shared", () => terraform(["plan", "-detailed-exitcode", "-input=false", "-no-color", "-out=again.tfplan"], { cwd: dir, allowFailure: true })));

  test("when planned again, terraform reports no changes", async () => {
    const r = await plannedAgain();
    expect(changedAddresses(r.stdout)).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("when planned against the applied state, the plan-JSON invariants read the task's planned containers and hold", async () => {
    expect((await plannedAgain()).code).toBe(0);
    const plan = JSON.parse((await terraform(["show", "-json", "-no-color", "again.tfplan"], { cwd: dir })).stdout) as PlanJson;
    const json = planToTfJson(plan);
    const [task] = containerDefinitions(json);
    // The planned value, with the repository URL resolved (the configuration has "${...}" there).
    expect(Array.isArray(task!.defs) && String(task!.defs[0]!.image)).toMatch(/^[^$]+:local$/);
    expect(checkInvariants(json)).toEqual([]);
  });

  test("when a KMS key is replaced, every trust, role and key policy stays known in the plan (the account comes from the stage, keys are named by alias)", async () => {
    const keys = readState(dir).resources.filter((r) => r.type === "aws_kms_key").map((r) => `aws_kms_key.${(r as unknown as { name: string }).name}`);
    expect(keys).toHaveLength(2);
    // The state is the apply's own: what is checked is what the plan knows, so no refresh.
    await terraform(["plan", "-input=false", "-no-color", "-refresh=false", ...keys.map((k) => `-replace=${k}`), "-out=rekey.tfplan"], { cwd: dir });
    const plan = JSON.parse((await terraform(["show", "-json", "-no-color", "rekey.tfplan"], { cwd: dir })).stdout) as PlanJson;
    const changes = plan.resource_changes ?? [];
    expect(changes.filter((c) => c.type === "aws_kms_key").map((c) => c.change.actions.sort().join())).toEqual(["create,delete", "create,delete"]);
    // A policy document whose inputs are unknown is read only at apply ("known after apply").
    expect(changes.filter((c) => c.type === "aws_iam_policy_document" && c.change.actions.includes("read")).map((c) => c.address)).toEqual([]);
    const policyAttr: Record<string, string> = { aws_iam_role_policy: "policy", aws_iam_role: "assume_role_policy", aws_kms_key_policy: "policy", aws_sns_topic_policy: "policy" };
    const unknown = changes.filter((c) => c.type in policyAttr && (c.change.after_unknown as Record<string, unknown> | undefined)?.[policyAttr[c.type]!] === true).map((c) => c.address);
    expect(changes.filter((c) => c.type in policyAttr).length).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });

  describe("npm run doctor on the applied stage", () => {
    const NOW = new Date("2026-12-01T15:00:00Z");
    const names = () => stackResourceNames(localStage());
    // The doctor reads the stage's data and these tests change it (secrets, an image, the
    // ledger): an exclusive turn, everything changed restored before it ends.
    let release: (() => void) | undefined;
    let restoreSecrets: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      release = await leaseStage("exclusive");
      restoreSecrets = await snapshotParameters(ssm, SECRET_KEYS);
    });
    afterAll(async () => {
      try {
        await restoreSecrets?.();
        const ecr = new ECRClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
        await ecr.send(new BatchDeleteImageCommand({ repositoryName: names().repository, imageIds: [{ imageTag: localStage().imageTag }] }));
        ecr.destroy();
        const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
        for (const recipient of ["reader@example.com", "second@example.com"]) {
          await ddb.send(new DeleteItemCommand({ TableName: names().ledgerTable, Key: { [LEDGER.partitionKey]: { S: digestDate(NOW) }, [LEDGER.sortKey]: { S: recipient } } }));
        }
        ddb.destroy();
      } finally {
        release?.();
      }
    });
    const io = (): CliIo & { out: string[] } => {
      const out: string[] = [];
      return { out, isTTY: false, stdout: (t) => void out.push(t), stderr: () => undefined };
    };
    async function doctor(): Promise<{ code: number; checks: Map<string, CheckResult>; text: string }> {
      const i = io();
      const code = await doctorCli(i, { AWS_ENDPOINT_URL: motoUrl }, () => NOW).run(["--stage", "local"]);
      const lines = i.out.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const checks = new Map(lines.filter((l) => typeof l.id === "string").map((l) => [l.id as string, l as unknown as CheckResult]));
      return { code, checks, text: i.out.join("") };
    }

    test("when the stage is freshly applied, it exits 1, says what to do for each failure, and 'cannot check here' for what moto cannot answer", async () => {
      const { code, checks } = await doctor();
      expect(code).toBe(1);
      const status = Object.fromEntries([...checks].map(([id, c]) => [id, c.status]));
      expect(status).toEqual({
        "ses-identity": "pass",
        "ses-dkim": "cannot-check",
        "ses-production-access": "cannot-check",
        "secret:aws/access_key_id": "warn",
        "secret:aws/secret_access_key": "warn",
        "secret:sendgrid/api_key": "fail",
        "secret:email/unsubscribe_signing_key": "warn",
        "alarm-subscription": "pass",
        image: "fail",
        "schedule:vibe-digest-local-daily": "pass",
        "schedule:vibe-digest-local-catch-up-1": "pass",
        "last-run": "warn",
      });
      expect(checks.get("secret:sendgrid/api_key")!.fix).toContain("npm run secrets -- put sendgrid/api_key");
      expect(checks.get("image")!.fix).toContain("npm run image:publish -- --stage local");
      expect(checks.get("ses-production-access")!.detail).toMatch(/^cannot check here/);
      expect(checks.get("ses-dkim")!.detail).toMatch(/^cannot check here/);
    });

    test("when the secrets are put, the image is pushed and the last run sent to everyone, every check moto can answer passes and it exits 0", async () => {
      const key = "k".repeat(8) + randomTail();
      for (const [k, v] of [["sendgridApiKey", "SG." + key + "." + key], ["unsubscribeSigningKey", key + key], ["awsAccessKeyId", "AKIA" + "TESTDOCTOR" + "000000"], ["awsSecretAccessKey", key + key]] as const) {
        await putSecret(ssm, "/vibecoding", k, v);
      }
      const ecr = new ECRClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
      const manifest = { schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json", config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 2, digest: `sha256:${"a".repeat(64)}` }, layers: [] };
      await ecr.send(new PutImageCommand({ repositoryName: names().repository, imageTag: localStage().imageTag, imageManifest: JSON.stringify(manifest) }));
      ecr.destroy();
      const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
      const session = new DeliveryLedger(ddb, names().ledgerTable).session(digestDate(NOW), "doctor-test-run");
      const claim = await session.claim("reader@example.com");
      if (claim.kind !== "claimed") throw new Error("expected a claim");
      await session.settle(claim.token, { state: "sent", provider: "ses", messageId: "m-1" });
      ddb.destroy();

      const { code, checks, text } = await doctor();
      expect([...checks.values()].filter((c) => c.status !== "pass" && c.status !== "cannot-check")).toEqual([]);
      expect(checks.get("last-run")!.detail).toBe(`digest ${digestDate(NOW)}: 1 sent`);
      expect(code).toBe(0);
      expect(text).not.toContain(key);
    });

    test("when the last run left a recipient failed, the last-run check fails and names the ledger command", async () => {
      const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: motoUrl, credentials: CREDENTIALS, maxAttempts: 2 });
      const session = new DeliveryLedger(ddb, names().ledgerTable).session(digestDate(NOW), "doctor-test-run-2");
      const claim = await session.claim("second@example.com");
      if (claim.kind !== "claimed") throw new Error("expected a claim");
      await session.settle(claim.token, { state: "failed", provider: "ses", errorCode: "SES_THROTTLED" });
      ddb.destroy();
      const { code, checks } = await doctor();
      expect(code).toBe(1);
      expect(checks.get("last-run")).toMatchObject({ status: "fail", detail: `digest ${digestDate(NOW)}: 1 sent, 1 failed`, fix: expect.stringContaining(`ledger status --date ${digestDate(NOW)}`) });
    });
  });

  test("when an operator puts a real value and terraform refreshes, the value stays out of the state and no change is planned", async () => {
    const { state, plan } = await withStageLease("exclusive", async () => {
      const restore = await snapshotParameters(ssm, ["sendgridApiKey"]);
      try {
        await ssm.send(new PutParameterCommand({ Name: parameterName(DEFAULT_PARAMETER_ROOT, "sendgridApiKey"), Value: CANARY, Type: "SecureString", Overwrite: true }));
        await terraform(["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"], { cwd: dir });
        return { state: readState(dir).text, plan: await terraform(["plan", "-detailed-exitcode", "-input=false", "-no-color"], { cwd: dir, allowFailure: true }) };
      } finally {
        await restore();
      }
    });
    expect(state).not.toContain(CANARY);
    expect(plan.stdout + plan.stderr).not.toContain(CANARY);
    expect(changedAddresses(plan.stdout)).toEqual([]);
    expect(plan.code).toBe(0);
  });

  test("when the next version of the stack changes sender, credentials mode and egress, plan:summary reports each change with its risk", async () => {
    // Version 2 of the local stage, planned against version 1's state in moto.
    const v2 = synthesizeStages(path.join(outdir, "v2"), [
      {
        ...localStage(sharedStageOptions(stage)),
        fromAddress: "news@vibedigest.example.com",
        credentialsMode: "task-role",
        sesPercent: 50,
        // A feed on the internet: the stage gets the NAT gateway and HTTPS egress.
        feeds: [{ url: "https://feeds.vibedigest.example.com/digest.rss", name: "Internet feed" }],
      },
    ])[0]!;
    fs.copyFileSync(path.join(dir, "terraform.tfstate"), path.join(v2.dir, "terraform.tfstate"));
    await terraform(["init", "-input=false", "-no-color"], { cwd: v2.dir });
    await withStageLease("shared", () => terraform(["plan", "-input=false", "-no-color", "-out=v2.tfplan"], { cwd: v2.dir }));
    const plan = JSON.parse((await terraform(["show", "-json", "-no-color", "v2.tfplan"], { cwd: v2.dir })).stdout) as PlanLike;
    const summary = summarizePlan(plan, { title: "local v1 -> v2", config: JSON.parse(fs.readFileSync(path.join(v2.dir, "cdk.tf.json"), "utf8")) as object });
    const at = (action: string, type: string) => summary.changes.filter((c) => c.action === action && c.type === type);

    expect(summary.actions.destroy).toBe(2); // the access-key SecureStrings
    expect(summary.actions.replace).toBeGreaterThanOrEqual(1); // the From address identity
    expect(summary.actions.update).toBeGreaterThanOrEqual(2); // from_address, ses_percent parameters (and more)
    expect(at("destroy", "aws_ssm_parameter").map((c) => [c.label, c.risk])).toEqual([
      [expect.stringMatching(/param-aws-access-key-id$/), "high"],
      [expect.stringMatching(/param-aws-secret-access-key$/), "high"],
    ]);
    expect(at("replace", "aws_ses_email_identity")).toHaveLength(1);
    expect(summary.changes.find((c) => c.label.endsWith("task-role/policy"))?.policies).toHaveLength(1);
    expect(at("create", "aws_nat_gateway")).toEqual([expect.objectContaining({ risk: "medium", reason: "a path between the VPC and the internet" })]);
    expect(at("create", "aws_vpc_security_group_egress_rule")).toContainEqual(expect.objectContaining({ label: expect.stringMatching(/network\/task-out-443-to-internet$/), risk: "medium" }));
    expect(summary.markdown).not.toContain(CANARY);
    expect(summary.markdown).not.toContain("reader@example.com");
  });
});
