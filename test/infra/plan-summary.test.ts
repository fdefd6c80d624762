import { changeKind, summarizePlan, type PlanLike } from "../../scripts/plan-summary";

const SECRET = "CANARY-summary-never-prints-values";

const PLAN: PlanLike = {
  resource_changes: [
    { address: "aws_kms_key.k", type: "aws_kms_key", change: { actions: ["create"], before: null, after: { enable_key_rotation: true } } },
    {
      address: "aws_iam_role_policy.p",
      type: "aws_iam_role_policy",
      change: { actions: ["update"], before: { name: "p", policy: '{"a":1}' }, after: { name: "p" }, after_unknown: { policy: true } },
    },
    { address: "aws_iam_role.r", type: "aws_iam_role", change: { actions: ["update"], before: { description: "a" }, after: { description: "b" } } },
    {
      address: "aws_ssm_parameter.s",
      type: "aws_ssm_parameter",
      change: { actions: ["delete"], before: { type: "SecureString", value: SECRET }, after: null },
    },
    {
      address: "aws_vpc_security_group_egress_rule.e",
      type: "aws_vpc_security_group_egress_rule",
      change: { actions: ["delete", "create"], before: { cidr_ipv4: "10.0.0.0/8" }, after: { cidr_ipv4: "0.0.0.0/0" } },
    },
    { address: "aws_sns_topic.t", type: "aws_sns_topic", change: { actions: ["no-op"], before: {}, after: {} } },
    { address: "data.aws_iam_policy_document.d", mode: "data", type: "aws_iam_policy_document", change: { actions: ["read"], before: null, after: {} } },
  ],
};

describe("plan summary", () => {
  const summary = summarizePlan(PLAN, "test plan");

  test("when summarized, it counts create, update, replace and destroy (data reads and no-ops aside)", () => {
    expect(summary.counts).toEqual({ create: 1, update: 2, replace: 1, destroy: 1 });
  });

  test("when a role policy changes or a key is created, it is flagged as an IAM/KMS policy change; a role's description is not", () => {
    const policy = summary.flags.filter((f) => f.kind === "iam-kms-policy").map((f) => f.address);
    expect(policy).toEqual(["aws_kms_key.k", "aws_iam_role_policy.p"]);
    expect(summary.flags.find((f) => f.address === "aws_iam_role_policy.p")!.attributes).toEqual(["policy"]);
  });

  test("when something is destroyed or replaced, it is flagged", () => {
    expect(summary.flags.filter((f) => f.kind === "destroy-replace").map((f) => `${f.change} ${f.address}`)).toEqual([
      "destroy aws_ssm_parameter.s",
      "replace aws_vpc_security_group_egress_rule.e",
    ]);
  });

  test("when a security-group rule changes, it is flagged as a network change", () => {
    expect(summary.flags.filter((f) => f.kind === "network").map((f) => f.address)).toEqual(["aws_vpc_security_group_egress_rule.e"]);
  });

  test("when a SecureString is touched, it is flagged", () => {
    expect(summary.flags.filter((f) => f.kind === "secure-string").map((f) => f.address)).toEqual(["aws_ssm_parameter.s"]);
  });

  test("when rendered, the Markdown has the counts table and a section per flag kind, and no value", () => {
    expect(summary.markdown).toContain("| 1 | 2 | 1 | 1 |");
    for (const h of ["Destroyed or replaced", "IAM or KMS policy changes", "Security-group or network changes", "SecureStrings touched"]) {
      expect(summary.markdown).toContain(h);
    }
    expect(summary.markdown).not.toContain(SECRET);
    expect(summary.markdown).not.toContain("0.0.0.0/0");
  });

  test("when nothing changes, it says so", () => {
    expect(summarizePlan({ resource_changes: [] }).markdown).toContain("No flagged changes.");
  });

  test.each([
    [["create"], "create"],
    [["update"], "update"],
    [["delete"], "destroy"],
    [["delete", "create"], "replace"],
    [["create", "delete"], "replace"],
    [["no-op"], "no-op"],
    [["read"], "read"],
  ])("when the actions are %p, the change is %s", (actions, kind) => {
    expect(changeKind(actions)).toBe(kind);
  });
});
