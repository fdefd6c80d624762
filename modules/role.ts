/**
 * An IAM role whose trust policy and permissions are statements as data (never JSON by
 * hand): the trust is an `aws_iam_policy_document`, and the permissions are one inline
 * policy rendered from what grants add ({@link addToPrincipalPolicy}), created with the
 * first grant. No AWS-managed policy is attached; a permissions boundary may cap it.
 * {@link ServiceRole} (assumed by an AWS service) and the pipeline roles of the bootstrap
 * stack are roles of this kind.
 */
import { Construct } from "constructs";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ConfigError } from "./errors";
import { StatementSet, toDocumentStatements, type IGrantee, type PolicyStatement } from "./policy";
import { assertIntegerInRange, assertName } from "./validate";

/** Props for {@link Role}. */
export interface RoleProps {
  /** The role's name, e.g. "vibe-digest-prod-task". */
  readonly roleName: string;
  /** Trust statements: who may assume the role (principals, actions, conditions; no resources). */
  readonly trust: readonly PolicyStatement[];
  /** What the role is for. */
  readonly description: string;
  /** Name of the inline policy. @default "grants" */
  readonly policyName?: string;
  /** Maximum session length in seconds (3600..43200). @default 3600 */
  readonly maxSessionDurationSeconds?: number;
  /** Managed policy that caps the role's permissions. @default - none */
  readonly permissionsBoundaryArn?: string;
  /** Fail synth when nothing was granted (a role that can do nothing is a wiring mistake). @default true */
  readonly requireGrants?: boolean;
}

/** Typed attributes of a {@link Role}. */
export interface RoleOutputs {
  readonly roleArn: string;
  readonly roleName: string;
}

/** An IAM role whose permissions come only from grants. */
export class Role extends Construct implements IGrantee {
  readonly role: IamRole;
  readonly outputs: RoleOutputs;
  /** The role's name as given (known at plan time, unlike `outputs.roleName`). */
  readonly roleName: string;
  private policy?: StatementSet;
  private readonly policyName: string;

  constructor(scope: Construct, id: string, props: RoleProps) {
    super(scope, id);
    assertName(this, "roleName", props.roleName);
    this.roleName = props.roleName;
    const maxSession = props.maxSessionDurationSeconds ?? 3600;
    assertIntegerInRange(this, "VALUE_INVALID", "maxSessionDurationSeconds", maxSession, 3600, 43_200);
    if (props.trust.length === 0 || props.trust.some((t) => !t.principals?.length)) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "trust", "statements that each name a principal");
    }
    const trust = new DataAwsIamPolicyDocument(this, "trust", { statement: toDocumentStatements(props.trust) });
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: props.description,
      assumeRolePolicy: trust.json,
      maxSessionDuration: maxSession,
      ...(props.permissionsBoundaryArn ? { permissionsBoundary: props.permissionsBoundaryArn } : {}),
    });
    this.policyName = props.policyName ?? "grants";
    if (props.requireGrants ?? true) {
      this.node.addValidation({
        validate: () => (this.policyStatements.length === 0 ? [new ConfigError("POLICY_EMPTY", this.node.path, "statements", "at least one grant").message] : []),
      });
    }
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
    return this.policy?.all ?? [];
  }

  addToPrincipalPolicy(statement: PolicyStatement): void {
    if (!this.policy) {
      this.policy = new StatementSet(this, "policy-document");
      new IamRolePolicy(this, "policy", { name: this.policyName, role: this.role.id, policy: this.policy.document.json });
    }
    this.policy.add(statement);
  }
}
