/**
 * An IAM role that an AWS service assumes. It starts with no permissions; constructs add
 * statements through their `grantXxx(role)` methods and the role renders them into one
 * inline policy (an `aws_iam_policy_document`). No policy JSON is written by hand and no
 * AWS-managed policy is attached.
 */
import type { Construct } from "constructs";
import type { PolicyCondition } from "./policy";
import { Role, type RoleOutputs } from "./role";

/** Props for {@link ServiceRole}. */
export interface ServiceRoleProps {
  /** The role's name, e.g. "vibe-digest-prod-task". */
  readonly roleName: string;
  /** Service principal allowed to assume the role, e.g. "ecs-tasks.amazonaws.com". */
  readonly assumedBy: string;
  /** Conditions on the trust (e.g. aws:SourceAccount against confused deputies). @default - none */
  readonly trustConditions?: readonly PolicyCondition[];
  /** Name of the inline policy. @default "grants" */
  readonly policyName?: string;
  /** What the role is for. @default - "<assumedBy> role; permissions only via grants" */
  readonly description?: string;
  /** Maximum session length in seconds. @default 3600 */
  readonly maxSessionDurationSeconds?: number;
  /**
   * Managed policy that caps the role's permissions (a real stage's workload boundary,
   * created by its bootstrap stack; the deployer may create roles only with it).
   * @default - none
   */
  readonly permissionsBoundaryArn?: string;
}

/** Typed attributes of a {@link ServiceRole}. */
export type ServiceRoleOutputs = RoleOutputs;

/** An IAM role for a service, whose permissions come only from grants. */
export class ServiceRole extends Role {
  constructor(scope: Construct, id: string, props: ServiceRoleProps) {
    super(scope, id, {
      roleName: props.roleName,
      description: props.description ?? `${props.assumedBy} role; permissions only via grants`,
      policyName: props.policyName,
      maxSessionDurationSeconds: props.maxSessionDurationSeconds,
      permissionsBoundaryArn: props.permissionsBoundaryArn,
      trust: [
        {
          sid: "AssumedByService",
          actions: ["sts:AssumeRole"],
          resources: [],
          principals: [{ type: "Service", identifiers: [props.assumedBy] }],
          conditions: props.trustConditions,
        },
      ],
    });
  }
}
