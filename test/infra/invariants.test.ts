/**
 * The invariants hold for every stage's synthesized JSON, and each one fails on a
 * deliberately bad fixture (so a broken check cannot pass silently).
 */
import { buildApp } from "../../modules/app";
import { INVARIANTS, checkInvariants, WILDCARD_RESOURCE_ALLOWLIST } from "../support/invariants";
import { synthStack, type TfJson } from "../support/tf-json";

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
  "ecr-immutable-scanned": {
    resource: {
      aws_ecr_repository: {
        r: { name: "r", image_tag_mutability: "MUTABLE", image_scanning_configuration: { scan_on_push: true }, encryption_configuration: [{ encryption_type: "KMS", kms_key: KEY }] },
      },
    },
  },
};

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

  test("when an ingress rule references a security group, it is not public", () => {
    const json: TfJson = { resource: { aws_vpc_security_group_ingress_rule: { r: { referenced_security_group_id: "sg-task", ip_protocol: "tcp" } } } };
    expect(checkInvariants(json)).toEqual([]);
  });
});
