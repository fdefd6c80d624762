/**
 * Edits of the stack the way a developer makes them, for the plan-review tests: a changed
 * StageConfig, a construct's own API (a grant, a new resource beside the others), or cdktf's
 * `addOverride` on a construct after the stack is built. Then terraform plans the result,
 * against a state applied to moto or offline; the review reads that real plan.
 */
import fs from "node:fs";
import path from "node:path";
import { App, type TerraformOutput, type TerraformResource } from "cdktf";
import type { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ENV } from "../../app/src/contract";
import { DigestStack, STACK_OUTPUTS } from "../../modules/digest-stack";
import type { StageConfig } from "../../modules/stages";
import { terraform } from "../../scripts/lib/terraform";
import { parsePlan, type PlanJson } from "../../scripts/lib/plan-model";
import type { TfJson } from "../../scripts/lib/invariants";
import { summarizePlan, type PlanSummary } from "../../scripts/plan-summary";
import { initOffline, planOffline } from "./terraform-offline";

export type StackEdit = (stack: DigestStack) => void;

/**
 * Builds `stage` as synthesizeStages (modules/app.ts) does, applies `edits` to the built
 * stack, synthesizes, and returns the stack's folder.
 */
export function synthEdited(outdir: string, stage: StageConfig, edits: readonly StackEdit[] = []): string {
  const app = new App({ outdir, skipValidation: false });
  const stack = new DigestStack(app, { stage });
  for (const edit of edits) edit(stack);
  app.synth();
  return path.join(outdir, "stacks", stage.stackName);
}

/** The construct at `childPath` below `scope` ("network/default-sg"), as a resource. */
export function resourceAt(scope: Construct, childPath: string): TerraformResource {
  let node: Construct = scope;
  for (const id of childPath.split("/")) node = node.node.findChild(id);
  return node as TerraformResource;
}

/** Rewrites the statements of the policy document at `docPath` (a developer editing the grants). */
export function editStatements(scope: Construct, docPath: string, edit: (s: DataAwsIamPolicyDocumentStatement[]) => DataAwsIamPolicyDocumentStatement[]): void {
  const doc = resourceAt(scope, docPath) as unknown as DataAwsIamPolicyDocument;
  doc.putStatement(edit([...((doc.statementInput ?? []) as DataAwsIamPolicyDocumentStatement[])]));
}

const editedContainers = new WeakMap<object, string>();

/** Rewrites the task definition's containers (JSON in the construct, tokens and all); edits add up. */
export function editContainers(stack: DigestStack, edit: (containers: Record<string, unknown>[]) => Record<string, unknown>[]): void {
  const td = stack.task.taskDefinition;
  const current = editedContainers.get(td) ?? td.containerDefinitionsInput!;
  const next = JSON.stringify(edit(JSON.parse(current) as Record<string, unknown>[]));
  editedContainers.set(td, next);
  td.addOverride("container_definitions", next);
}

/**
 * Takes the delivery ledger out of the stack without destroying it, as a developer moving
 * it to another stack would: a `removed` block with `destroy = false` (Terraform 1.7+), the
 * table gone from the configuration, and its references (the task's VIBE_LEDGER_TABLE, the
 * task role's grant, the output) turned into its name and ARN.
 */
export function forgetLedger(stack: DigestStack): void {
  const table = stack.ledger.table;
  const address = `${table.terraformResourceType}.${stack.getLogicalId(table)}`;
  const name = `${stack.stage.stackName}-delivery-ledger`;
  const key = stack.operationsKey;
  const arn = `arn:${key.partition}:dynamodb:${stack.stage.region}:${key.account}:table/${name}`;
  editContainers(stack, (cs) => cs.map((c) => ({ ...c, environment: (c.environment as { name: string; value: string }[]).map((e) => (e.name === ENV.ledgerTable ? { ...e, value: name } : e)) })));
  editStatements(stack.taskRole, "policy-document", (st) => st.map((s) => (s.sid === "DeliveryLedgerReadWrite" ? { ...s, resources: [arn] } : s)));
  (stack.node.findChild(STACK_OUTPUTS.ledgerTable) as TerraformOutput).addOverride("value", name);
  stack.ledger.node.tryRemoveChild(table.node.id);
  stack.addOverride("removed", [{ from: address, lifecycle: { destroy: false } }]);
}

/** `terraform show -json` of a plan file in `dir`, parsed. */
export async function showPlan(dir: string, planFile: string, env?: NodeJS.ProcessEnv): Promise<PlanJson> {
  const show = await terraform(["show", "-json", "-no-color", planFile], { cwd: dir, ...(env ? { env } : {}) });
  return parsePlan(show.stdout, planFile);
}

/** Plans `dir` against the state file `stateFile` (copied in), without refreshing: the edit is all that differs. */
export async function planAgainstState(dir: string, stateFile: string): Promise<PlanJson> {
  fs.copyFileSync(stateFile, path.join(dir, "terraform.tfstate"));
  await terraform(["init", "-input=false", "-no-color"], { cwd: dir });
  await terraform(["plan", "-input=false", "-no-color", "-refresh=false", "-out=edit.tfplan"], { cwd: dir });
  return showPlan(dir, "edit.tfplan");
}

/** Plans `dir` offline on an empty state (override beside cdk.tf.json, no network). */
export async function planOfflineJson(dir: string): Promise<PlanJson> {
  await initOffline(dir);
  return (await planOffline(dir)).json as PlanJson;
}

/** The synthesized configuration of a stack folder. */
export function stackConfig(dir: string): TfJson {
  return JSON.parse(fs.readFileSync(path.join(dir, "cdk.tf.json"), "utf8")) as TfJson;
}

/** The review of a plan made in `dir`, with construct paths from its cdk.tf.json. */
export function review(plan: PlanJson, dir: string): PlanSummary {
  return summarizePlan(plan, { config: stackConfig(dir) });
}

/** The reviewed change whose construct path ends with `suffix`; fails if there is none or several. */
export function changeAt(summary: PlanSummary, suffix: string): PlanSummary["changes"][number] {
  const found = summary.changes.filter((c) => c.label === suffix || c.label.endsWith(`/${suffix}`));
  if (found.length !== 1) throw new Error(`expected one change at ${suffix}, found ${found.length}: ${summary.changes.map((c) => c.label).join(", ")}`);
  return found[0]!;
}

/** A row of a risky-edit table: what was edited, where it shows, and how it must be reported. */
export type ReportedRow = [edit: string, at: string, risk: string, rule: string, reason: RegExp, invariant: string | null];

/** Checks that the change at `at` has `risk`, a finding `rule` at that risk whose reason matches, and breaks `invariant`. */
export function expectReported(summary: PlanSummary, ...[, at, risk, rule, reason, invariant]: ReportedRow): void {
  const c = changeAt(summary, at);
  expect(c.risk).toBe(risk);
  expect(c.findings).toContainEqual(expect.objectContaining({ risk, rule, reason: expect.stringMatching(reason) }));
  if (invariant) expect(c.invariants).toContain(invariant);
}
