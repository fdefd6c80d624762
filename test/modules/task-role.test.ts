import { Testing, TerraformStack } from "cdktf";
import { ConfigError } from "../../modules/errors";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { TaskRole } from "../../modules/task-role";
import { dataSources, onlyResource, ref, statementsOf, type TfJson } from "../support/tf-json";

const READ = { sid: "ReadThing", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/x"] };

function build(grant = true): { stack: TerraformStack; role: TaskRole } {
  const stack = new TerraformStack(Testing.app(), "stack");
  new AwsProvider(stack, "aws", { region: "us-east-1" });
  const role = new TaskRole(stack, "task-role", { roleName: "vibe-digest-test-task" });
  if (grant) role.addToPrincipalPolicy(READ);
  return { stack, role };
}

describe("TaskRole", () => {
  const { stack } = build();
  const json = JSON.parse(Testing.synth(stack, true)) as TfJson;
  const role = onlyResource(json, "aws_iam_role");

  test("when synthesized, only ecs-tasks.amazonaws.com may assume it", () => {
    const trust = statementsOf(json, role.props.assume_role_policy);
    expect(trust).toEqual([
      {
        sid: "AssumedByService",
        effect: "Allow",
        actions: ["sts:AssumeRole"],
        principals: [{ type: "Service", identifiers: ["ecs-tasks.amazonaws.com"] }],
      },
    ]);
  });

  test("when synthesized, it has the given name, a one-hour session and no managed policy", () => {
    expect(role.props).toMatchObject({ name: "vibe-digest-test-task", max_session_duration: 3600 });
    expect(role.props).not.toHaveProperty("managed_policy_arns");
    expect(json.resource).not.toHaveProperty("aws_iam_role_policy_attachment");
  });

  test("when granted, its one inline policy is rendered from the grants", () => {
    const policy = onlyResource(json, "aws_iam_role_policy");
    expect(policy.props.role).toBe(ref(role, "id"));
    expect(statementsOf(json, policy.props.policy)).toEqual([{ sid: "ReadThing", effect: "Allow", actions: READ.actions, resources: READ.resources }]);
    expect(dataSources(json, "aws_iam_policy_document")).toHaveLength(2);
  });

  test("when nothing was granted, validation fails with POLICY_EMPTY", () => {
    const { stack: empty } = build(false);
    expect(() => Testing.synth(empty, true)).toThrow(/POLICY_EMPTY/);
  });

  test("when the same sid is granted twice, it throws VALUE_INVALID", () => {
    const { role: r } = build();
    expect(() => r.addToPrincipalPolicy(READ)).toThrow(expect.objectContaining({ code: "VALUE_INVALID" }) as unknown as ConfigError);
  });

  test.each(["", "has space", "-leading-dash", "x".repeat(49)])("when the role name is %p, it throws NAME_INVALID", (name) => {
    const s = new TerraformStack(Testing.app(), "stack");
    expect(() => new TaskRole(s, "r", { roleName: name })).toThrow(expect.objectContaining({ code: "NAME_INVALID" }) as unknown as ConfigError);
  });
});
