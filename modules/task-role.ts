/**
 * The IAM role the digest task runs as. It starts with no permissions; constructs add
 * statements through their `grantXxx(role)` methods, and the role renders them into one
 * inline policy. No policy JSON is written by hand.
 */
import { Construct } from "constructs";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ConfigError } from "./errors";
import { toDocumentStatements, type IGrantee, type PolicyStatement } from "./policy";
import { assertName } from "./validate";

/** Props for {@link TaskRole}. */
export interface TaskRoleProps {
  /** The role's name, e.g. "vibe-digest-prod-task". */
  readonly roleName: string;
  /** Service principal allowed to assume the role. @default "ecs-tasks.amazonaws.com" */
  readonly assumedBy?: string;
  /** Maximum session length in seconds. @default 3600 */
  readonly maxSessionDurationSeconds?: number;
}

/** Typed attributes of a {@link TaskRole}. */
export interface TaskRoleOutputs {
  readonly roleArn: string;
  readonly roleName: string;
}

/** An IAM role for the ECS task, whose permissions come only from grants. */
export class TaskRole extends Construct implements IGrantee {
  readonly role: IamRole;
  readonly outputs: TaskRoleOutputs;
  private readonly statements: PolicyStatement[] = [];
  private readonly document: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: TaskRoleProps) {
    super(scope, id);
    assertName(this, "roleName", props.roleName);
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: toDocumentStatements([
        {
          sid: "AssumedByEcsTasks",
          actions: ["sts:AssumeRole"],
          resources: [],
          principals: [{ type: "Service", identifiers: [props.assumedBy ?? "ecs-tasks.amazonaws.com"] }],
        },
      ]),
    });
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: "vibe-digest sender task: permissions only via grants",
      assumeRolePolicy: trust.json,
      maxSessionDuration: props.maxSessionDurationSeconds ?? 3600,
    });
    this.document = new DataAwsIamPolicyDocument(this, "policy-document", { statement: [] });
    new IamRolePolicy(this, "policy", {
      name: "digest-task",
      role: this.role.id,
      policy: this.document.json,
    });
    this.node.addValidation({
      validate: () => (this.statements.length === 0 ? [new ConfigError("POLICY_EMPTY", this.node.path, "statements", "at least one grant").message] : []),
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
    return [...this.statements];
  }

  addToPrincipalPolicy(statement: PolicyStatement): void {
    if (this.statements.some((s) => s.sid === statement.sid)) {
      throw new ConfigError("VALUE_INVALID", this.node.path, `statement ${statement.sid}`, "granted once (sids are unique)");
    }
    this.statements.push(statement);
    this.document.putStatement(toDocumentStatements(this.statements));
  }
}
