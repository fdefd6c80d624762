/**
 * A customer-managed IAM policy used as a permissions boundary: the most a role may ever
 * do, whatever its own policies say (effective permissions are the intersection). Its
 * statements are data, rendered through an `aws_iam_policy_document` like every policy here.
 */
import { Construct } from "constructs";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { ConfigError } from "./errors";
import { StatementSet, type PolicyStatement } from "./policy";
import { assertName } from "./validate";

/** Props for {@link PermissionsBoundary}. */
export interface PermissionsBoundaryProps {
  /** The policy's name, e.g. "vibe-digest-prod-workload-boundary". */
  readonly policyName: string;
  /** What it caps. */
  readonly description: string;
  /** Allow statements (the ceiling) and Deny statements (what no grant can lift). */
  readonly statements: readonly PolicyStatement[];
}

/** A managed policy that caps roles. */
export class PermissionsBoundary extends Construct {
  readonly policy: IamPolicy;
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: PermissionsBoundaryProps) {
    super(scope, id);
    assertName(this, "policyName", props.policyName);
    if (!props.statements.some((s) => (s.effect ?? "Allow") === "Allow")) {
      throw new ConfigError("POLICY_EMPTY", this.node.path, "statements", "at least one Allow statement (a boundary without one denies everything)");
    }
    const set = new StatementSet(this, "document");
    for (const s of props.statements) set.add(s);
    this.statements = set.all;
    this.policy = new IamPolicy(this, "policy", { name: props.policyName, description: props.description, policy: set.document.json });
  }

  get resource(): IamPolicy {
    return this.policy;
  }

  get arn(): string {
    return this.policy.arn;
  }
}
