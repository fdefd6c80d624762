/**
 * The invariants (scripts/lib/invariants.ts, shared with `npm run plan:summary`) hold for
 * every stage's synthesized JSON, and each one fails on a deliberately bad fixture (so a
 * broken check cannot pass silently).
 */
import { buildApp } from "../../modules/app";
import { SECRET_LOOKING_NAME } from "../../modules/scheduled-task";
import { INVARIANTS, checkInvariants, containerDefinitions, planToTfJson, SECRET_LOOKING_ENV_NAME, WILDCARD_RESOURCE_ALLOWLIST, type TfJson } from "../../scripts/lib/invariants";
import type { PlanJson } from "../support/terraform-offline";
import { synthStack } from "../support/tf-json";

const KEY = "${aws_kms_key.k.arn}";
const doc = (statement: object[]) => ({ aws_iam_policy_document: { d: { statement } } });
const container = (over: object) =>
  JSON.stringify([{ name: "sender", image: "x", readonlyRootFilesystem: true, privileged: false, user: "10001:10001", environment: [], ...over }]);

/** For each invariant, a stack fragment that breaks it. */
const BAD: Record<string, TfJson> = {
  "iam-no-wildcard-action": { data: doc([{ sid: "Bad", actions: ["ssm:Get*"], resources: ["arn:aws:ssm:us-east-1:1:parameter/x"] }]) },
  "iam-no-wildcard-resource": { data: doc([{ sid: "Bad", actions: ["ssm:GetParameter"], resources: ["*"] }]) },
  "iam-policy-from-document": { resource: { aws_iam_role_policy: { p: { role: "r", policy: '{"Version":"2012-10-17","Statement":[]}' } } } },
  "iam-no-managed-policy": { resource: { aws_iam_role_policy_attachment: { a: { role: "r", policy_arn: "arn:aws:iam::aws:policy/AdministratorAccess" } } } },
  "kms-rotation": { resource: { aws_kms_key: { k: { enable_key_rotation: false } } } },
  "encrypted-with-our-key": {
    resource: {
      aws_sns_topic: { t: { name: "t", kms_master_key_id: "alias/aws/sns" } },
      aws_dynamodb_table: { d: { name: "d", server_side_encryption: { enabled: false } } },
      // An alias the stack does not declare for its own key (here AWS's) is not our CMK.
      aws_sqs_queue: { q: { name: "q", kms_master_key_id: "alias/aws/sqs" } },
    },
  },
  "log-retention-a-year": { resource: { aws_cloudwatch_log_group: { l: { name: "/x", kms_key_id: KEY, retention_in_days: 30 } } } },
  "secure-strings-write-only": { resource: { aws_ssm_parameter: { p: { name: "/x", type: "SecureString", value: "would-be-in-state" } } } },
  "no-public-ingress": { resource: { aws_vpc_security_group_ingress_rule: { r: { security_group_id: "sg", cidr_ipv4: "0.0.0.0/0", ip_protocol: "tcp", from_port: 443, to_port: 443 } } } },
  "internet-egress-opt-in": { resource: { aws_vpc_security_group_egress_rule: { r: { security_group_id: "sg", cidr_ipv4: "0.0.0.0/0", ip_protocol: "-1", description: "all out" } } } },
  "default-security-group-empty": { resource: { aws_vpc: { v: { cidr_block: "10.0.0.0/16" } } } },
  "container-hardened": { resource: { aws_ecs_task_definition: { t: { container_definitions: container({ user: "0", environment: [{ name: "SENDGRID_API_KEY", value: "x" }] }) } } } },
  "no-public-ip": {
    resource: { aws_scheduler_schedule: { s: { target: { ecs_parameters: { network_configuration: { subnets: ["s"], assign_public_ip: true } } } } } },
  },
  "ses-tls-required": { resource: { aws_sesv2_configuration_set: { c: { configuration_set_name: "c", delivery_options: { tls_policy: "OPTIONAL" } } } } },
  "table-recoverable": { resource: { aws_dynamodb_table: { t: { name: "t", point_in_time_recovery: { enabled: false }, server_side_encryption: { enabled: true, kms_key_arn: KEY } } } } },
  "ecr-immutable-scanned": {
    resource: {
      aws_ecr_repository: {
        r: { name: "r", image_tag_mutability: "MUTABLE", image_scanning_configuration: { scan_on_push: true }, encryption_configuration: [{ encryption_type: "KMS", kms_key: KEY }] },
      },
    },
  },
};

const TASK_ADDRESS = "aws_ecs_task_definition.task_task-definition_EF01C385";

/**
 * A plan (the `terraform show -json` shape) whose task definition is an HCL expression in
 * the configuration and concrete only in the planned values, as an update plan or a
 * jsonencode(...) definition has it.
 */
function planWithContainer(container: object | "unknown"): PlanJson {
  return {
    configuration: {
      root_module: {
        resources: [
          {
            address: TASK_ADDRESS,
            mode: "managed",
            type: "aws_ecs_task_definition",
            name: "task_task-definition_EF01C385",
            expressions: { family: { constant_value: "vd-sender" }, container_definitions: { references: ["aws_ecr_repository.repo.repository_url", "aws_ecr_repository.repo"] } },
          },
        ],
      },
    },
    resource_changes: [
      {
        address: TASK_ADDRESS,
        mode: "managed",
        type: "aws_ecs_task_definition",
        name: "task_task-definition_EF01C385",
        change:
          container === "unknown"
            ? { actions: ["create"], before: null, after: { family: "vd-sender" }, after_unknown: { container_definitions: true } }
            : { actions: ["update"], before: {}, after: { family: "vd-sender", container_definitions: JSON.stringify([container]) }, after_unknown: {} },
      },
    ],
  };
}
const HARDENED = { name: "sender", image: "x", readonlyRootFilesystem: true, privileged: false, user: "10001:10001", environment: [{ name: "AWS_REGION", value: "us-east-1" }] };

describe("invariants", () => {
  const { stacks } = buildApp({ outdir: "unused" });

  test.each(stacks.map((s) => [s.stage.name, s] as const))("when the %s stage is synthesized, no invariant is violated", (_name, stack) => {
    expect(checkInvariants(synthStack(stack))).toEqual([]);
  });

  test("when the invariants are listed, every one has a bad fixture", () => {
    expect(Object.keys(BAD).sort()).toEqual(INVARIANTS.map((i) => i.id).sort());
  });

  test.each(INVARIANTS.map((i) => [i.id, i] as const))("when given its bad fixture, %s reports a violation", (id, invariant) => {
    const violations = invariant.check(BAD[id]!);
    expect(violations.length).toBeGreaterThan(0);
    for (const v of violations) expect(v.invariant).toBe(id);
  });

  test("when a queue names a key by alias, encrypted-with-our-key accepts only an alias the stack declares for its own key", () => {
    const key = { aws_kms_key: { k: { enable_key_rotation: true } }, aws_kms_alias: { a: { name: "alias/ours", target_key_id: "${aws_kms_key.k.key_id}" } } };
    const check = INVARIANTS.find((i) => i.id === "encrypted-with-our-key")!.check;
    expect(check({ resource: { ...key, aws_sqs_queue: { q: { name: "q", kms_master_key_id: "alias/ours" } } } })).toEqual([]);
    expect(check({ resource: { ...key, aws_sqs_queue: { q: { name: "q", kms_master_key_id: "alias/theirs" } } } }).map((v) => v.address)).toEqual(["aws_sqs_queue.q"]);
  });

  test("when a container's environment holds a credential-looking value under an innocent name, container-hardened reports the name, not the value", () => {
    const json: TfJson = { resource: { aws_ecs_task_definition: { t: { container_definitions: container({ environment: [{ name: "SES_USER", value: "AKIA" + "IOSFODNN7EXAMPLE" }] }) } } } };
    const violations = checkInvariants(json);
    expect(violations.map((x) => x.invariant)).toEqual(["container-hardened"]);
    expect(violations[0]!.detail).toContain("SES_USER");
    expect(violations[0]!.detail).not.toContain("AKIA" + "IOSFODNN7EXAMPLE");
  });

  test("when the invariants name secret-looking variables, they use the construct's own rule (no copy that can drift)", () => {
    expect(SECRET_LOOKING_ENV_NAME).toBe(SECRET_LOOKING_NAME);
  });

  test.each([
    ["runs as root", { ...HARDENED, user: "0" }],
    ["is privileged", { ...HARDENED, privileged: true }],
    ["has a writable root file system", { ...HARDENED, readonlyRootFilesystem: false }],
    ["holds an AWS key id in its environment", { ...HARDENED, environment: [{ name: "SES_USER", value: "AKIA" + "IOSFODNN7EXAMPLE" }] }],
  ])("when a plan's planned task definition %s, the plan-JSON invariant fails (not skipped as an expression)", (_what, bad) => {
    const json = planToTfJson(planWithContainer(bad));
    expect(containerDefinitions(json)).toEqual([{ address: TASK_ADDRESS, defs: [bad] }]);
    expect(checkInvariants(json).filter((x) => x.invariant === "container-hardened")).not.toEqual([]);
  });

  test("when a plan's planned task definition is hardened, the plan-JSON invariant passes on the planned value", () => {
    const json = planToTfJson(planWithContainer(HARDENED));
    expect(containerDefinitions(json)[0]!.defs).toEqual([HARDENED]);
    expect(checkInvariants(json)).toEqual([]);
  });

  test("when a plan knows the task definition neither as a planned value nor as a literal, the invariant reports it instead of passing", () => {
    const violations = checkInvariants(planToTfJson(planWithContainer("unknown")));
    expect(violations).toEqual([expect.objectContaining({ invariant: "container-hardened", detail: expect.stringContaining("unknown until apply") })]);
  });

  test("when a wildcard resource is allowlisted, the reason is written down", () => {
    for (const reason of Object.values(WILDCARD_RESOURCE_ALLOWLIST)) expect(reason).toMatch(/no resource-level/);
  });

  test("when a key policy uses Resource *, it is allowed (there * means the key)", () => {
    const json: TfJson = {
      data: doc([{ sid: "KeyAdministration", actions: ["kms:DescribeKey"], resources: ["*"] }]),
      resource: { aws_kms_key_policy: { p: { key_id: "k", policy: "${data.aws_iam_policy_document.d.json}" } } },
    };
    expect(checkInvariants(json)).toEqual([]);
  });

  test("when a VPC has no managed default security group, the invariant names that VPC (and not one whose group is locked)", () => {
    const json: TfJson = {
      resource: {
        aws_vpc: { a: { cidr_block: "10.0.0.0/16" }, b: { cidr_block: "10.1.0.0/16" } },
        aws_default_security_group: { d: { vpc_id: "${aws_vpc.a.id}", ingress: [], egress: [] } },
      },
    };
    expect(checkInvariants(json)).toEqual([expect.objectContaining({ invariant: "default-security-group-empty", address: "aws_vpc.b" })]);
  });

  test.each(["aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment"])("when a managed policy is attached with %s, iam-no-managed-policy reports it", (type) => {
    const json: TfJson = { resource: { [type]: { a: { policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" } } } };
    expect(checkInvariants(json).map((x) => x.invariant)).toEqual(["iam-no-managed-policy"]);
  });

  test("when a plan knows a templated value (a log group name from a reference), the plan-JSON invariants read the planned value; a bare reference to our key stays a reference", () => {
    const plan: PlanJson = {
      configuration: {
        root_module: {
          resources: [{
            address: "aws_cloudwatch_log_group.l", mode: "managed", type: "aws_cloudwatch_log_group", name: "l",
            expressions: { name: { constant_value: "/${aws_ecs_cluster.c.name}/x" }, kms_key_id: { constant_value: "${aws_kms_key.k.arn}" }, retention_in_days: { constant_value: 365 } },
          }],
        },
      },
      resource_changes: [{ address: "aws_cloudwatch_log_group.l", mode: "managed", type: "aws_cloudwatch_log_group", name: "l", change: { actions: ["update"], before: {}, after: { name: "/vd/x", kms_key_id: "arn:aws:kms:us-east-1:1:key/k", retention_in_days: 365 }, after_unknown: {} } }],
    };
    const json = planToTfJson(plan);
    expect(json.resource!.aws_cloudwatch_log_group!.l).toMatchObject({ name: "/vd/x", kms_key_id: "${aws_kms_key.k.arn}" });
    expect(checkInvariants(json)).toEqual([]);
  });

  test("when an ingress rule references a security group, it is not public", () => {
    const json: TfJson = { resource: { aws_vpc_security_group_ingress_rule: { r: { referenced_security_group_id: "sg-task", ip_protocol: "tcp" } } } };
    expect(checkInvariants(json)).toEqual([]);
  });
});
