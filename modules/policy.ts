/**
 * IAM statements as data. Constructs hand them to a grantee through `grantXxx` methods;
 * a principal (e.g. {@link TaskRole}) renders what it collected into an
 * `aws_iam_policy_document` data source (computed locally by the provider, no AWS call),
 * so no stack writes policy JSON by hand and tests can assert each field.
 */
import { Fn } from "cdktf";
import type { DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";

export interface PolicyCondition {
  /** e.g. "StringEquals", "ArnLike", "Bool". */
  readonly test: string;
  /** The condition key, e.g. "kms:ViaService". */
  readonly variable: string;
  readonly values: readonly string[];
}

export interface PolicyPrincipal {
  /** "AWS" or "Service". */
  readonly type: "AWS" | "Service";
  readonly identifiers: readonly string[];
}

export interface PolicyStatement {
  /** Statement id: a stable, reviewable name for why the statement exists. */
  readonly sid: string;
  /** @default "Allow" */
  readonly effect?: "Allow" | "Deny";
  readonly actions: readonly string[];
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
    actions: [...s.actions],
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

/** Parts of an ARN that Terraform only knows after apply, as expressions (no AWS call). */
export interface ArnParts {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/**
 * Splits an ARN token into partition/region/account expressions. We derive the account
 * from a resource we create instead of `aws_caller_identity`, which would call STS during
 * every plan (and so break the offline plan).
 */
export function arnParts(arn: string): ArnParts {
  const parts = Fn.split(":", arn);
  return {
    partition: Fn.element(parts, 1),
    region: Fn.element(parts, 3),
    account: Fn.element(parts, 4),
  };
}
