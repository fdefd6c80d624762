/**
 * The IAM role the digest task runs as: a {@link ServiceRole} assumed by ECS tasks. Its
 * permissions come only from grants (parameters, sending, metrics); the full action set
 * is checked against test/modules/task-role-actions.txt so a change shows in review.
 */
import type { Construct } from "constructs";
import { ServiceRole } from "./service-role";
import type { PolicyCondition } from "./policy";

/** Props for {@link TaskRole}. */
export interface TaskRoleProps {
  /** The role's name, e.g. "vibe-digest-prod-task". */
  readonly roleName: string;
  /** Service principal allowed to assume the role. @default "ecs-tasks.amazonaws.com" */
  readonly assumedBy?: string;
  /** Conditions on the trust. @default - none */
  readonly trustConditions?: readonly PolicyCondition[];
  /** Maximum session length in seconds. @default 3600 */
  readonly maxSessionDurationSeconds?: number;
  /** Managed policy that caps the role's permissions (a real stage's workload boundary). @default - none */
  readonly permissionsBoundaryArn?: string;
}

/** Typed attributes of a {@link TaskRole}. */
export type { ServiceRoleOutputs as TaskRoleOutputs } from "./service-role";

/** An IAM role for the ECS task, whose permissions come only from grants. */
export class TaskRole extends ServiceRole {
  constructor(scope: Construct, id: string, props: TaskRoleProps) {
    super(scope, id, {
      roleName: props.roleName,
      assumedBy: props.assumedBy ?? "ecs-tasks.amazonaws.com",
      trustConditions: props.trustConditions,
      policyName: "digest-task",
      description: "vibe-digest sender task: permissions only via grants",
      maxSessionDurationSeconds: props.maxSessionDurationSeconds,
      permissionsBoundaryArn: props.permissionsBoundaryArn,
    });
  }
}
