/**
 * Queries over synthesized Terraform JSON (cdk.tf.json), for property assertions that
 * name exactly what they check instead of snapshotting the whole file.
 */
import fs from "node:fs";
import path from "node:path";
import { Testing, type TerraformStack } from "cdktf";

import type { Block, DocStatement, TfJson } from "../../scripts/lib/invariants";

// The shapes are defined once, beside the invariants that walk them.
export type { Block, DocStatement, TfJson };

export interface Found {
  /** Terraform address, e.g. aws_kms_key.parameters_key_13D0CAB1 */
  readonly address: string;
  readonly id: string;
  readonly props: Block;
}

/** Synthesizes one stack (validations run) and parses it. */
export function synthStack(stack: TerraformStack): TfJson {
  return JSON.parse(Testing.synth(stack, true)) as TfJson;
}

/** Reads cdk.tf.json of a synthesized stack folder. */
export function readStackJson(stackDir: string): TfJson {
  return JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")) as TfJson;
}

/** Every resource of `type`. */
export function resources(json: TfJson, type: string): Found[] {
  return Object.entries(json.resource?.[type] ?? {}).map(([id, props]) => ({ address: `${type}.${id}`, id, props }));
}

/** Every data source of `type`. */
export function dataSources(json: TfJson, type: string): Found[] {
  return Object.entries(json.data?.[type] ?? {}).map(([id, props]) => ({ address: `data.${type}.${id}`, id, props }));
}

/** The one resource of `type`; fails the test if there are zero or several. */
export function onlyResource(json: TfJson, type: string): Found {
  const all = resources(json, type);
  if (all.length !== 1) throw new Error(`expected exactly one ${type}, found ${all.length}`);
  return all[0]!;
}

/** Every resource type with its count. */
export function resourceCounts(json: TfJson): Record<string, number> {
  return Object.fromEntries(Object.entries(json.resource ?? {}).map(([t, r]) => [t, Object.keys(r).length]));
}

export function totalResources(json: TfJson): number {
  return Object.values(resourceCounts(json)).reduce((a, b) => a + b, 0);
}

/** `${aws_x.y.attr}` for a found resource: how other blocks reference it. */
export function ref(found: Found, attr: string): string {
  return `\${${found.address}.${attr}}`;
}


/**
 * The statements behind a policy argument such as
 * `${data.aws_iam_policy_document.x.json}`; fails if it is anything else (hand-written JSON).
 */
export function statementsOf(json: TfJson, policyRef: string): DocStatement[] {
  const m = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(policyRef);
  if (!m) throw new Error(`policy is not an aws_iam_policy_document reference: ${policyRef.slice(0, 80)}`);
  const doc = json.data?.aws_iam_policy_document?.[m[1]!];
  if (!doc) throw new Error(`no aws_iam_policy_document ${m[1]}`);
  return (doc.statement ?? []) as DocStatement[];
}

/** The statement with `sid`; fails if it is missing. */
export function statementBySid(statements: DocStatement[], sid: string): DocStatement {
  const s = statements.find((x) => x.sid === sid);
  if (!s) throw new Error(`no statement ${sid}; have ${statements.map((x) => x.sid).join(", ")}`);
  return s;
}
