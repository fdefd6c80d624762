/**
 * The plan review of real plans: the baseline (the suite's shared applied local stage,
 * test/support/shared-stage.ts, with two edits applied on top for as long as it takes to
 * record its state, then undone) is planned against by each batch of a developer's edits,
 * synthesized and planned against that state (no refresh: the edit is all that differs). Each risky edit must be reported with the
 * right risk, rule and reason, and the invariant it breaks; harmless ones as low or none.
 */
import fs from "node:fs";
import path from "node:path";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { localStage } from "../../modules/stages";
import { PROJECT_ROOT, terraform } from "../../scripts/lib/terraform";
import { CHANGING_ACTIONS, actionOf } from "../../scripts/lib/plan-model";
import type { PlanSummary } from "../../scripts/plan-summary";
import { copyStage, sharedLocalStage, sharedStageOptions, withStageLease } from "../support/shared-stage";
import {
  changeAt, editContainers, editStatements, expectReported, forgetLedger, planAgainstState, resourceAt, review, synthEdited, type ReportedRow, type StackEdit,
} from "../support/plan-edits";

// Generous: the first test may wait for the shared apply, and for another file's turn at the stage.
jest.setTimeout(600_000);

// Assembled at run time; the review must never print a container's environment value.
const CANARY = ["CANARY", "plan", "review", "env", "value"].join("-");

/** The baseline adds what the edits take away: deletion protection and a permissions boundary. */
const PROTECT_LEDGER: StackEdit = (s) => s.ledger.table.addOverride("deletion_protection_enabled", true);
const BOUND_TASK_ROLE: StackEdit = (s) => {
    const doc = new DataAwsIamPolicyDocument(s.taskRole, "boundary-document", {
      statement: [{ sid: "Boundary", actions: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "ses:SendRawEmail"], resources: ["arn:aws:dynamodb:us-east-1:123456789012:table/x"] }],
    });
    const boundary = new IamPolicy(s.taskRole, "boundary", { name: "vibe-digest-local-task-boundary", policy: doc.json });
    s.taskRole.role.addOverride("permissions_boundary", boundary.arn);
};
const BASELINE: StackEdit[] = [PROTECT_LEDGER, BOUND_TASK_ROLE];

/** Edits that weaken data protection, plus two harmless ones. */
const DATA_PROTECTION: StackEdit[] = [
  (s) => s.operationsKey.key.addOverride("enable_key_rotation", false),
  (s) => s.ledger.table.addOverride("point_in_time_recovery.enabled", false),
  (s) => s.ledger.table.addOverride("deletion_protection_enabled", false),
  (s) => s.task.logGroup.logGroup.addOverride("kms_key_id", null),
  (s) => s.task.logGroup.logGroup.addOverride("retention_in_days", 1),
  (s) => s.task.repository.addOverride("image_tag_mutability", "MUTABLE"),
  (s) => s.task.repository.addOverride("image_scanning_configuration.scan_on_push", false),
  (s) => s.monitoring.topic.topic.addOverride("kms_master_key_id", null),
  (s) => s.task.deadLetterQueue.addOverride("kms_master_key_id", null),
  // Harmless: a tag, a description.
  (s) => resourceAt(s.network, "flow-logs/log-group").addOverride("tags", { Team: "platform" }),
  (s) => s.parameters.cmk!.key.addOverride("description", "vibe-digest-local: SecureStrings (reworded)"),
];

/** Edits of permissions and the network. */
const ACCESS: StackEdit[] = [
  (s) => editStatements(s.taskRole, "policy-document", (st) => st.map((x) => (x.sid === "DeliveryLedgerReadWrite" ? { ...x, actions: ["*"] } : x))),
  (s) => editStatements(s.task.executionRole, "policy-document", (st) => st.map((x) => (x.sid === "PullDigestImage" ? { ...x, resources: ["*"] } : x))),
  (s) => editStatements(s.task.schedulerRole, "trust", (st) => st.map((x) => ({ ...x, principals: [...(x.principals as { type: string; identifiers: string[] }[]), { type: "AWS", identifiers: ["arn:aws:iam::111122223333:root"] }] }))),
  (s) => s.operationsKey.grantUse("AuditorDecrypts", "arn:aws:iam::123456789012:role/auditor", ["kms:Decrypt"]),
  (s) => new VpcSecurityGroupIngressRule(s.network, "public-https", { securityGroupId: s.network.taskSecurityGroup.id, cidrIpv4: "0.0.0.0/0", ipProtocol: "tcp", fromPort: 443, toPort: 443 }),
  (s) => {
    const rule = resourceAt(s.network, "task-out-443-to-endpoints");
    rule.addOverride("referenced_security_group_id", null);
    rule.addOverride("cidr_ipv4", "0.0.0.0/0");
  },
  (s) => resourceAt(s.network, "default-sg").addOverride("ingress", [{ protocol: "tcp", from_port: 22, to_port: 22, cidr_blocks: ["10.0.0.0/8"], ipv6_cidr_blocks: [], prefix_list_ids: [], security_groups: [], self: false, description: "ssh" }]),
  (s) => editContainers(s, (cs) => cs.map((c) => ({ ...c, privileged: true, readonlyRootFilesystem: false, environment: [...(c.environment as object[]), { name: "SENDGRID_API_KEY", value: CANARY }] }))),
  (s) => s.task.schedule.addOverride("target.ecs_parameters.network_configuration.assign_public_ip", true),
];

/** Edits that destroy, replace or forget stateful resources. */
const LIFECYCLE: StackEdit[] = [
  (s) => forgetLedger(s),
  (s) => s.task.repository.addOverride("name", "vibe-digest-local-sender-v2"),
];

describe("plan review of edits to the local stage, planned against its state on moto", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "plan-review-local-"));
  let local: () => ReturnType<typeof localStage>;
  let stateFile = "";
  const timings: string[] = [];

  /** Plans the baseline's stack (`kept`: the baseline edits still in place) with `edits` against the baseline's state. */
  const plan = async (name: string, stage: ReturnType<typeof localStage>, edits: StackEdit[], kept: StackEdit[] = BASELINE): Promise<PlanSummary> => {
    const t0 = Date.now();
    const dir = synthEdited(path.join(outdir, name), stage, [...kept, ...edits]);
    const json = await planAgainstState(dir, stateFile);
    timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const summary = review(json, dir);
    // Not hand-written: terraform made it, and every change it reports is one terraform plans.
    const changing = (json.resource_changes ?? []).filter((c) => c.mode !== "data" && CHANGING_ACTIONS.includes(actionOf(c.change.actions)));
    expect(summary.changes.map((c) => c.address).sort()).toEqual(changing.map((c) => c.address).sort());
    return summary;
  };

  beforeAll(async () => {
    const stage = await sharedLocalStage();
    local = () => localStage(sharedStageOptions(stage));
    const t0 = Date.now();
    const dir = synthEdited(path.join(outdir, "baseline"), local(), BASELINE);
    fs.copyFileSync(path.join(stage.stackDir, "terraform.tfstate"), path.join(dir, "terraform.tfstate"));
    await terraform(["init", "-input=false", "-no-color"], { cwd: dir });
    // The baseline's edits change the shared stage (the table's deletion protection, the
    // role's boundary, a new policy): an exclusive turn, and they are undone before it ends
    // by applying the shared stack's own configuration over the baseline's state.
    await withStageLease("exclusive", async () => {
      await terraform(["apply", "-auto-approve", "-input=false", "-no-color"], { cwd: dir });
      const undo = copyStage(stage, path.join(outdir, "undo"));
      fs.copyFileSync(path.join(dir, "terraform.tfstate"), path.join(undo, "terraform.tfstate"));
      await terraform(["apply", "-auto-approve", "-input=false", "-no-color"], { cwd: undo });
    });
    stateFile = path.join(dir, "terraform.tfstate");
    timings.push(`baseline apply and undo ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  afterAll(() => {
    console.log(`plan review on moto: ${timings.join(", ")}`);
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  describe("when data protection is weakened (and a tag and a description change)", () => {
    let s: PlanSummary;
    beforeAll(async () => {
      s = await plan("data-protection", local(), DATA_PROTECTION);
    });

    test.each<ReportedRow>([
      ["key rotation turned off", "operations-key/key", "high", "kms-rotation-off", /key rotation turned off/, "kms-rotation"],
      ["point-in-time recovery turned off", "ledger/table", "high", "table-pitr-off", /point-in-time recovery turned off/, "table-recoverable"],
      ["deletion protection turned off", "ledger/table", "high", "table-deletion-protection-off", /deletion protection turned off/, null],
      ["the log group's KMS key removed", "task/logs/log-group", "high", "log-group-key", /log group no longer encrypted with a customer-managed key/, "encrypted-with-our-key"],
      ["log retention set to 1 day", "task/logs/log-group", "high", "log-retention", /log events kept only 1 day/, "log-retention-a-year"],
      ["ECR tags made mutable", "task/repository", "high", "ecr-mutable-tags", /image tags become mutable/, "ecr-immutable-scanned"],
      ["ECR scan on push turned off", "task/repository", "high", "ecr-scan-off", /scan on push turned off/, "ecr-immutable-scanned"],
      ["the SNS topic's encryption removed", "monitoring/alarm-topic/topic", "high", "topic-key", /topic no longer encrypted/, "encrypted-with-our-key"],
      ["the SQS queue's encryption removed", "task/dead-letters", "high", "queue-key", /queue no longer encrypted/, "encrypted-with-our-key"],
    ])("when %s, it is reported at %s as %s (%s) with its reason and invariant", (...row) => expectReported(s, ...row));

    test("when a risky attribute changes, its value is shown before -> after", () => {
      expect(changeAt(s, "operations-key/key").attributes).toContainEqual({ name: "enable_key_rotation", before: "true", after: "false" });
      expect(changeAt(s, "ledger/table").attributes).toEqual(expect.arrayContaining([
        { name: "point_in_time_recovery.enabled", before: "true", after: "false" },
        { name: "deletion_protection_enabled", before: "true", after: "false" },
      ]));
      const logs = changeAt(s, "task/logs/log-group").attributes;
      expect(logs).toContainEqual({ name: "retention_in_days", before: "365", after: "1" });
      expect(logs).toContainEqual({ name: "kms_key_id", before: expect.stringMatching(/^arn:aws:kms:us-east-1:\d{12}:key\//), after: "(none)" });
      expect(changeAt(s, "task/repository").attributes).toEqual(expect.arrayContaining([
        { name: "image_tag_mutability", before: "IMMUTABLE", after: "MUTABLE" },
        { name: "image_scanning_configuration.scan_on_push", before: "true", after: "false" },
      ]));
    });

    test("when only a tag changes, it is no risk; when a key's description changes, it is low", () => {
      expect(changeAt(s, "network/flow-logs/log-group")).toMatchObject({ risk: "none", reason: "only tags change" });
      expect(changeAt(s, "parameters/key/key")).toMatchObject({ risk: "low", reason: expect.stringMatching(/changes description/) });
    });

    test("when a key changes, no role or policy is re-rendered: policies name the account from the stage data and keys by alias, so they stay known", () => {
      const labels = s.changes.map((c) => c.label);
      expect(labels.filter((l) => /(role|policy)$/.test(l) && !/key\/policy$/.test(l))).toEqual([]);
      expect(labels).toEqual(expect.arrayContaining([expect.stringMatching(/operations-key\/key$/)]));
    });

    test("when rendered, the verdict comes first and names the high-risk changes, and details are folded", () => {
      expect(s.verdict).toMatch(/^\d+ high-risk changes: /);
      expect(s.markdown.split("\n")[2]).toBe(`**${s.verdict}**`);
      expect(s.markdown).toContain("<details><summary>High-risk details</summary>");
      expect(s.risks.high).toBe(s.changes.filter((c) => c.risk === "high").length);
    });
  });

  describe("when permissions and the network are opened up, and stateful resources are destroyed, replaced or forgotten", () => {
    let s: PlanSummary;
    beforeAll(async () => {
      // One plan for two batches (they touch different resources): a changed StageConfig (no
      // access-key parameters, the AWS-managed SSM key) with the edits. The baseline's
      // permissions boundary is left out: removing it is one of the edits.
      s = await plan("access-and-lifecycle", { ...local(), credentialsMode: "task-role", parameterKey: "aws-managed" }, [...ACCESS, ...LIFECYCLE], [PROTECT_LEDGER]);
    });

    test.each<ReportedRow>([
      ["a task-role action becomes *", "task-role/policy", "high", "policy-wildcard-action", /wildcard action `\*` in `DeliveryLedgerReadWrite`/, "iam-no-wildcard-action"],
      ["an execution-role resource becomes *", "task/execution-role/policy", "high", "policy-wildcard-resource", /`PullDigestImage` allows Resource `\*`/, "iam-no-wildcard-resource"],
      ["another account may assume the scheduler role", "task/scheduler-role/role", "high", "policy-cross-account", /principal in another account: `AWS arn:aws:iam::111122223333:root`/, null],
      ["a principal is added to the operations key policy", "operations-key/policy", "medium", "policy-new-principal", /new principal in the key policy: `AWS arn:aws:iam::123456789012:role\/auditor`/, null],
      ["the permissions boundary is removed", "task-role/role", "high", "iam-boundary-removed", /permissions boundary removed/, null],
      ["ingress from 0.0.0.0/0 is added", "network/public-https", "high", "sg-ingress-cidr", /ingress open to the internet \(0\.0\.0\.0\/0\)/, "no-public-ingress"],
      ["egress to 0.0.0.0/0 without the opt-in", "network/task-out-443-to-endpoints", "high", "invariant:internet-egress-opt-in", /egress to anywhere without the allowInternetEgress opt-in/, "internet-egress-opt-in"],
      ["the default security group gets a rule", "network/default-sg", "high", "default-sg-rules", /default security group gets ingress rules/, "default-security-group-empty"],
      ["the container runs privileged", "task/task-definition", "high", "container-privileged", /runs privileged/, "container-hardened"],
      ["the container's root file system becomes writable", "task/task-definition", "high", "container-writable-root", /writable root file system/, "container-hardened"],
      ["a secret-looking environment variable is added", "task/task-definition", "high", "container-secret-env", /SENDGRID_API_KEY/, "container-hardened"],
      ["the scheduled task gets a public IP", "task/schedule", "high", "scheduler-public-ip", /gets a public IP/, "no-public-ip"],
    ])("when %s, it is reported at %s as %s (%s) with its reason and invariant", (...row) => expectReported(s, ...row));

    test("when a policy changes, the review shows the statement diff: actions added and removed", () => {
      const [policy] = changeAt(s, "task-role/policy").policies;
      expect(policy).toMatchObject({ kind: "identity", source: "known" });
      expect(policy!.statements).toContainEqual("changed `DeliveryLedgerReadWrite` (Allow): +actions: `*`; −actions: `dynamodb:GetItem`, `dynamodb:Query`, `dynamodb:UpdateItem`");
      // With the AWS-managed SSM key there is no key of ours to grant: the statement goes.
      expect(policy!.statements).toContainEqual(expect.stringMatching(/^removed `DecryptDigestParametersViaSsm` \(Allow\): −actions: `kms:Decrypt`/));
      const [trust] = changeAt(s, "task/scheduler-role/role").policies;
      expect(trust!.statements).toEqual([expect.stringMatching(/\+principals: `AWS arn:aws:iam::111122223333:root`/)]);
    });

    test("when a CIDR changes, it is shown before -> after", () => {
      expect(changeAt(s, "network/task-out-443-to-endpoints").attributes).toContainEqual({ name: "cidr_ipv4", before: "(none)", after: "0.0.0.0/0" });
      expect(changeAt(s, "network/public-https").attributes).toContainEqual({ name: "cidr_ipv4", before: "(new)", after: "0.0.0.0/0" });
    });

    test("when a container's environment changes, the review names the variables and never prints a value", () => {
      expect(changeAt(s, "task/task-definition").notes).toContainEqual("sender environment: +SENDGRID_API_KEY (names only)");
      expect(JSON.stringify(s)).not.toContain(CANARY);
    });

    test.each<ReportedRow>([
      ["the ledger is forgotten (removed block, destroy = false)", "ledger/table", "high", "forget", /removed from Terraform's state but left in AWS/, null],
      ["the parameters' KMS key is destroyed", "parameters/key", "high", "stateful-destroy", /destroyed: whatever is encrypted under it .* becomes unreadable/, null],
      ["a SecureString parameter is destroyed", "parameters/param-aws-access-key-id", "high", "stateful-destroy", /destroyed: its value is lost/, null],
      ["the ECR repository is renamed", "task/repository", "high", "stateful-replace", /replaced .*: its images are lost/, null],
    ])("when %s, it is reported at %s as %s (%s)", (...row) => expectReported(s, ...row));

    test("when the ledger is forgotten, terraform's forget action is a change, not a no-op", () => {
      expect(s.actions.forget).toBe(1);
      expect(changeAt(s, "ledger/table").action).toBe("forget");
    });

    test("when a KMS key goes, the cost falls by the key's monthly price (a forgotten table is still billed)", () => {
      expect(s.cost.changes).toContainEqual({ item: "KMS key", address: expect.stringMatching(/^aws_kms_key\.parameters_key/), before: 1, after: 0 });
      expect(s.cost.delta).toBeCloseTo(-1, 2);
      expect(s.cost.lines.some((l) => l.item === "DynamoDB on demand")).toBe(true);
    });
  });
});
