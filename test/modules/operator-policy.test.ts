import { OperatorPolicy } from "../../modules/operator-policy";
import { synthWith, thrownBy } from "../support/construct-fixtures";
import { onlyResource, statementsOf } from "../support/tf-json";

const ROLE = "arn:aws:iam::111111111111:role/vibe-digest-prod-operator";

describe("OperatorPolicy", () => {
  test("when granted, it attaches one inline policy named after the stack to the existing role, by name", () => {
    const json = synthWith((f) => new OperatorPolicy(f.stack, "op", { roleArn: ROLE, account: "111111111111", policyName: "vibe-digest-prod-operator" }).addToPrincipalPolicy({ sid: "A", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/x"] }));
    expect(onlyResource(json, "aws_iam_role_policy").props).toMatchObject({ name: "vibe-digest-prod-operator", role: "vibe-digest-prod-operator" });
    expect(json.resource).not.toHaveProperty("aws_iam_role");
  });

  test("when a role has a path, the policy goes to the role's name", () => {
    const json = synthWith((f) => new OperatorPolicy(f.stack, "op", { roleArn: "arn:aws:iam::111111111111:role/ops/team/digest-operator", account: "111111111111", policyName: "p" }).addToPrincipalPolicy({ sid: "A", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/x"] }));
    expect(onlyResource(json, "aws_iam_role_policy").props.role).toBe("digest-operator");
  });

  test("when two grants add reads without resource-level permissions under one sid, their actions join one statement", () => {
    const json = synthWith((f) => {
      const op = new OperatorPolicy(f.stack, "op", { roleArn: ROLE, account: "111111111111", policyName: "p" });
      op.addToPrincipalPolicy({ sid: "Unscoped", actions: ["ssm:DescribeParameters"], resources: ["*"] });
      op.addToPrincipalPolicy({ sid: "Unscoped", actions: ["ses:GetAccount"], resources: ["*"] });
    });
    expect(statementsOf(json, onlyResource(json, "aws_iam_role_policy").props.policy)).toEqual([{ sid: "Unscoped", effect: "Allow", actions: ["ses:GetAccount", "ssm:DescribeParameters"], resources: ["*"] }]);
  });

  test("when the same sid comes with other resources, it is refused (no silent widening)", () => {
    expect(
      thrownBy((f) => {
        const op = new OperatorPolicy(f.stack, "op", { roleArn: ROLE, account: "111111111111", policyName: "p" });
        op.addToPrincipalPolicy({ sid: "S", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/a"] });
        op.addToPrincipalPolicy({ sid: "S", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/b"] });
      }).code,
    ).toBe("VALUE_INVALID");
  });

  test.each([
    ["a role of another account", "arn:aws:iam::222222222222:role/operator"],
    ["a user, not a role", "arn:aws:iam::111111111111:user/operator"],
    ["not an ARN", "operator"],
  ])("when given %s, it throws VALUE_INVALID naming roleArn", (_what, roleArn) => {
    expect(thrownBy((f) => new OperatorPolicy(f.stack, "op", { roleArn, account: "111111111111", policyName: "p" }))).toMatchObject({ code: "VALUE_INVALID", subject: "roleArn" });
  });
});
