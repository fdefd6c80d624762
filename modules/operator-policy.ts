/**
 * The stage's operator policy on an operator role this stack does not own (by default the
 * operator role of the stage's bootstrap stack): an inline policy named after the stack,
 * whose statements come only from grants (parameters, ledger, sender checks, ...), like a
 * {@link ServiceRole}'s. Each stage attaches its own, so an operator role of the account
 * holds exactly the stages it operates. The role's permissions boundary (bootstrap stack)
 * still caps whatever this policy says.
 */
import { Construct } from "constructs";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { ConfigError } from "./errors";
import { StatementSet, type IGrantee, type PolicyStatement } from "./policy";
import { assertAccount, assertName } from "./validate";

/** Props for {@link OperatorPolicy}. */
export interface OperatorPolicyProps {
  /** ARN of the operator role (`arn:<partition>:iam::<account>:role/[path/]name`) in `account`. */
  readonly roleArn: string;
  /** The stage's account: an operator role of another account cannot get an inline policy here. */
  readonly account: string;
  /** Name of the inline policy, e.g. "vibe-digest-prod-operator". */
  readonly policyName: string;
}

const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;

/** An inline policy of grants on an existing operator role. */
export class OperatorPolicy extends Construct implements IGrantee {
  readonly policy: IamRolePolicy;
  readonly roleName: string;
  private readonly statements: StatementSet;

  constructor(scope: Construct, id: string, props: OperatorPolicyProps) {
    super(scope, id);
    assertAccount(this, "account", props.account);
    assertName(this, "policyName", props.policyName);
    const m = ROLE_ARN.exec(props.roleArn);
    if (!m || m[2] !== props.account) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "roleArn", "the ARN of an IAM role in the stage's account");
    }
    this.roleName = m[3]!;
    this.grantPrincipalArn = props.roleArn;
    // Reads without resource-level permissions come from several constructs into one statement.
    this.statements = new StatementSet(this, "policy-document", { mergeSameSid: true });
    this.policy = new IamRolePolicy(this, "policy", { name: props.policyName, role: this.roleName, policy: this.statements.document.json });
    this.node.addValidation({
      validate: () => (this.statements.all.length === 0 ? [new ConfigError("POLICY_EMPTY", this.node.path, "statements", "at least one grant").message] : []),
    });
  }

  readonly grantPrincipalArn: string;

  /** The main resource (the inline policy). */
  get resource(): IamRolePolicy {
    return this.policy;
  }

  /** Every statement granted so far (for review and tests). */
  get policyStatements(): readonly PolicyStatement[] {
    return this.statements.all;
  }

  addToPrincipalPolicy(statement: PolicyStatement): void {
    this.statements.add(statement);
  }
}
