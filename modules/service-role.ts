/**
 * An IAM role that an AWS service assumes. It starts with no permissions; constructs add
 * statements through their `grantXxx(role)` methods and the role renders them into one
 * inline policy (an `aws_iam_policy_document`). No policy JSON is written by hand and no
 * AWS-managed policy is attached.
 */
import { Construct } from "constructs";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ConfigError } from "./errors";
import { StatementSet, toDocumentStatements, type IGrantee, type PolicyCondition, type PolicyStatement } from "./policy";
import { assertName } from "./validate";

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
export interface ServiceRoleOutputs {
  readonly roleArn: string;
  readonly roleName: string;
}

/** An IAM role for a service, whose permissions come only from grants. */
export class ServiceRole extends Construct implements IGrantee {
  readonly role: IamRole;
  readonly outputs: ServiceRoleOutputs;
  private readonly policy: StatementSet;

  constructor(scope: Construct, id: string, props: ServiceRoleProps) {
    super(scope, id);
    assertName(this, "roleName", props.roleName);
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: toDocumentStatements([
        {
          sid: "AssumedByService",
          actions: ["sts:AssumeRole"],
          resources: [],
          principals: [{ type: "Service", identifiers: [props.assumedBy] }],
          conditions: props.trustConditions,
        },
      ]),
    });
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: props.description ?? `${props.assumedBy} role; permissions only via grants`,
      assumeRolePolicy: trust.json,
      maxSessionDuration: props.maxSessionDurationSeconds ?? 3600,
      ...(props.permissionsBoundaryArn ? { permissionsBoundary: props.permissionsBoundaryArn } : {}),
    });
    this.policy = new StatementSet(this, "policy-document");
    new IamRolePolicy(this, "policy", {
      name: props.policyName ?? "grants",
      role: this.role.id,
      policy: this.policy.document.json,
    });
    this.node.addValidation({
      validate: () => (this.policy.all.length === 0 ? [new ConfigError("POLICY_EMPTY", this.node.path, "statements", "at least one grant").message] : []),
    });
    this.outputs = { roleArn: this.role.arn, roleName: this.role.name };
  }

  /** The main resource (the role). */
  get resource(): IamRole {
    return this.role;
  }

  get grantPrincipalArn(): string {
    return this.role.arn;
  }

  /** Every statement granted so far, in grant order (for review and tests). */
  get policyStatements(): readonly PolicyStatement[] {
    return this.policy.all;
  }

  addToPrincipalPolicy(statement: PolicyStatement): void {
    this.policy.add(statement);
  }
}
