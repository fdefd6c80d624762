/**
 * IAM statements as data. Constructs hand them to a grantee through `grantXxx` methods;
 * a principal (e.g. {@link TaskRole}) renders what it collected into an
 * `aws_iam_policy_document` data source (computed locally by the provider, no AWS call),
 * so no stack writes policy JSON by hand and tests can assert each field.
 */
import type { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ConfigError } from "./errors";

export interface PolicyCondition {
  /** e.g. "StringEquals", "ArnLike", "Bool". */
  readonly test: string;
  /** The condition key, e.g. "kms:ViaService". */
  readonly variable: string;
  readonly values: readonly string[];
}

export interface PolicyPrincipal {
  /** "AWS", "Service" or "Federated" (an OIDC provider). */
  readonly type: "AWS" | "Service" | "Federated";
  readonly identifiers: readonly string[];
}

export interface PolicyStatement {
  /** Statement id: a stable, reviewable name for why the statement exists. */
  readonly sid: string;
  /** @default "Allow" */
  readonly effect?: "Allow" | "Deny";
  readonly actions: readonly string[];
  /** Every action but these (only in Deny statements of a permissions boundary); `actions` is then []. */
  readonly notActions?: readonly string[];
  /** Empty only in a trust policy. */
  readonly resources: readonly string[];
  readonly conditions?: readonly PolicyCondition[];
  /** Only for resource policies (key, topic and queue policies). */
  readonly principals?: readonly PolicyPrincipal[];
}

/** Anything that can receive permissions: a role (identity policy). */
export interface IGrantee {
  /** Adds `statement` to the grantee's own policy. */
  addToPrincipalPolicy(statement: PolicyStatement): void;
  /** ARN of the principal, for resource policies that name it (e.g. a key policy). */
  readonly grantPrincipalArn: string;
}

/** Renders statements in the shape of `aws_iam_policy_document`'s `statement` blocks. */
export function toDocumentStatements(statements: readonly PolicyStatement[]): DataAwsIamPolicyDocumentStatement[] {
  return statements.map((s) => ({
    sid: s.sid,
    effect: s.effect ?? "Allow",
    ...(s.notActions?.length ? { notActions: [...s.notActions] } : { actions: [...s.actions] }),
    // A trust policy has no Resource; every other statement names one.
    ...(s.resources.length ? { resources: [...s.resources] } : {}),
    ...(s.conditions?.length
      ? { condition: s.conditions.map((c) => ({ test: c.test, variable: c.variable, values: [...c.values] })) }
      : {}),
    ...(s.principals?.length
      ? { principals: s.principals.map((p) => ({ type: p.type, identifiers: [...p.identifiers] })) }
      : {}),
  }));
}

/**
 * Sid of the operator's statement for reads that have no resource-level permissions
 * (ssm:DescribeParameters, ses:GetAccount): one statement that several grants add to, so one
 * reviewed exception to "no Resource *" (test/support/invariants.ts allow-lists it).
 */
export const UNSCOPED_READS_SID = "OperatorReadsWithoutResourceLevel";

/** The ARN partition of a region (aws, aws-cn, aws-us-gov). */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/**
 * The statements of one identity policy, rendered into an `aws_iam_policy_document` data
 * source (`document`) as they are granted. Sids are unique: a second statement with a sid
 * already there is refused, unless `mergeSameSid` and it has the same resources and
 * conditions, in which case its actions join the first (several constructs can then add
 * to one reviewed statement, e.g. reads that have no resource-level permissions).
 */
export class StatementSet {
  readonly document: DataAwsIamPolicyDocument;
  private readonly statements: PolicyStatement[] = [];

  constructor(
    private readonly scope: Construct,
    id: string,
    private readonly opts: { readonly mergeSameSid?: boolean } = {},
  ) {
    this.document = new DataAwsIamPolicyDocument(scope, id, { statement: [] });
  }

  /** Every statement so far, in grant order. */
  get all(): readonly PolicyStatement[] {
    return [...this.statements];
  }

  add(statement: PolicyStatement): void {
    const i = this.statements.findIndex((s) => s.sid === statement.sid);
    if (i >= 0) {
      const existing = this.statements[i]!;
      const same = (a: PolicyStatement) => JSON.stringify([a.effect ?? "Allow", a.resources, a.conditions ?? [], a.principals ?? []]);
      if (!this.opts.mergeSameSid || same(existing) !== same(statement)) {
        throw new ConfigError("VALUE_INVALID", this.scope.node.path, `statement ${statement.sid}`, "granted once (sids are unique)");
      }
      this.statements[i] = { ...existing, actions: [...new Set([...existing.actions, ...statement.actions])].sort() };
    } else {
      this.statements.push(statement);
    }
    this.document.putStatement(toDocumentStatements(this.statements));
  }
}
