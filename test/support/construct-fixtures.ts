/**
 * Builds a throwaway stack (with a provider and, if asked, an operations CMK) for
 * construct tests, and synthesizes it with validations on.
 */
import { Testing, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { CustomerManagedKey } from "../../modules/customer-managed-key";
import { ScheduledTask, type ScheduledTaskProps } from "../../modules/scheduled-task";
import { TaskRole } from "../../modules/task-role";
import { synthStack, type TfJson } from "./tf-json";

/** The account of the fixture's key (and of ARNs the constructs build from it). */
export const FIXTURE_ACCOUNT = "111111111111";

export interface Fixture {
  readonly stack: TerraformStack;
  readonly key: CustomerManagedKey;
}

/** A stack with an AWS provider (us-east-1) and a CMK at path "stack/key". */
export function fixture(): Fixture {
  const stack = new TerraformStack(Testing.app(), "stack");
  new AwsProvider(stack, "aws", { region: "us-east-1" });
  const key = new CustomerManagedKey(stack, "key", { description: "test key", alias: "test-ops", account: FIXTURE_ACCOUNT, region: "us-east-1" });
  return { stack, key };
}

/** Runs `build` in a fresh fixture and returns the synthesized JSON. */
export function synthWith(build: (f: Fixture) => void): TfJson {
  const f = fixture();
  build(f);
  return synthStack(f.stack);
}

/** Runs `build` and returns what it threw (fails if nothing was thrown). */
export function thrownBy(build: (f: Fixture) => void): Error & { code?: string; constructPath?: string } {
  try {
    build(fixture());
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected the construct to throw");
}

/** A ScheduledTask with a minimal task role and plain defaults; `props` override them. */
export function buildScheduledTask(f: Fixture, props: Partial<ScheduledTaskProps> = {}): void {
  const taskRole = new TaskRole(f.stack, "task-role", { roleName: "vd-task" });
  taskRole.addToPrincipalPolicy({ sid: "Placeholder", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/x"] });
  new ScheduledTask(f.stack, "task", {
    namePrefix: "vd",
    region: "us-east-1",
    key: f.key,
    taskRole,
    imageTag: "2026.11.28",
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupId: "sg-task",
    environment: { VIBE_PARAMETER_ROOT: "/vibecoding", AWS_REGION: "us-east-1" },
    ...props,
  });
}
