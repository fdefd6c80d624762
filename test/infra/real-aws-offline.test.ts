/**
 * `terraform validate` and `terraform plan` of the real-AWS stages (dev, prod) with no
 * network: the synthesized JSON stays clean, an override file beside it supplies the
 * offline settings, every network path is refused, and the plan's configuration is held
 * to the same invariants as the synthesized JSON.
 */
import fs from "node:fs";
import path from "node:path";
import { synthesizeApp, type SynthesizedStack } from "../../modules/app";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { checkInvariants, containerDefinitions, planToTfJson } from "../support/invariants";
import { OVERRIDE_FILE, initOffline, planOffline, validateOffline, type OfflinePlan } from "../support/terraform-offline";
import { readStackJson, totalResources } from "../support/tf-json";
import { egressProblems, expectedEgress } from "../support/egress";
import { devStage, prodStage } from "../../modules/stages";

jest.setTimeout(240_000);

describe.each(["dev", "prod"] as const)("%s stage offline", (stage) => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", `${stage}-offline-`));
  let stack: SynthesizedStack;
  let plan: OfflinePlan;

  beforeAll(async () => {
    stack = synthesizeApp({ outdir, stages: [stage] })[0]!;
    await initOffline(stack.dir);
    plan = await planOffline(stack.dir);
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test("when the override is written, cdk.tf.json stays clean and the override sits beside it", () => {
    expect(fs.existsSync(path.join(stack.dir, OVERRIDE_FILE))).toBe(true);
    const text = fs.readFileSync(path.join(stack.dir, "cdk.tf.json"), "utf8");
    expect(["127.0.0.1", "skip_credentials_validation", '"local"'].filter((n) => text.includes(n))).toEqual([]);
  });

  test("when validated offline, terraform says the configuration is valid", async () => {
    const r = await validateOffline(stack.dir);
    expect(r.stdout).toContain("The configuration is valid");
  });

  test("when planned on an empty state with every network path refused, it plans to create every resource", () => {
    const managed = (plan.json.resource_changes ?? []).filter((c) => !c.address.startsWith("data."));
    expect(managed).toHaveLength(totalResources(readStackJson(stack.dir)));
    expect(managed.filter((c) => c.change.actions.join() !== "create").map((c) => c.address)).toEqual([]);
  });

  test("when planned, no SecureString carries a value in the plan", () => {
    const secure = (plan.json.resource_changes ?? []).filter((c) => c.type === "aws_ssm_parameter" && c.change.after?.type === "SecureString");
    expect(secure.length).toBeGreaterThan(0);
    for (const c of secure) {
      expect(c.change.after!.value_wo ?? null).toBeNull();
      expect(c.change.after!.value ?? null).toBeNull();
      expect(c.change.after!.insecure_value ?? null).toBeNull();
    }
  });

  test("when the plan's configuration is checked, no invariant is violated", () => {
    const json = planToTfJson(plan.json);
    expect(Object.keys(json.resource ?? {}).length).toBeGreaterThan(30);
    expect(checkInvariants(json)).toEqual([]);
  });

  test("when the plan's configuration is checked, a feed host is reachable only through the NAT gateway and the DNS firewall's allow-list", () => {
    expect(egressProblems(planToTfJson(plan.json), expectedEgress(stage === "dev" ? devStage() : prodStage()))).toEqual([]);
  });

  test("when the plan's configuration is checked, the task's containers are read and checked, not skipped", () => {
    // A create plan knows container_definitions only after apply (the image is the
    // repository's computed URL); the configuration holds it as the literal JSON template.
    const task = (plan.json.resource_changes ?? []).find((c) => c.type === "aws_ecs_task_definition")!;
    expect((task.change.after_unknown as Record<string, unknown>).container_definitions).toBe(true);
    const [defs] = containerDefinitions(planToTfJson(plan.json));
    expect(Array.isArray(defs!.defs) && defs!.defs.map((d) => [d.name, d.readonlyRootFilesystem, d.user])).toEqual([["sender", true, "10001:10001"]]);
  });
});

describe("bootstrap-prod offline", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "bootstrap-offline-"));
  let stack: SynthesizedStack;
  let plan: OfflinePlan;

  beforeAll(async () => {
    stack = synthesizeApp({ outdir, stages: [], bootstraps: ["bootstrap-prod"] })[0]!;
    await initOffline(stack.dir);
    plan = await planOffline(stack.dir);
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test("when planned on an empty state with every network path refused, it plans to create every resource, starting with a local state file", () => {
    const managed = (plan.json.resource_changes ?? []).filter((c) => !c.address.startsWith("data."));
    expect(managed).toHaveLength(totalResources(readStackJson(stack.dir)));
    expect(managed.filter((c) => c.change.actions.join() !== "create").map((c) => c.address)).toEqual([]);
    expect(readStackJson(stack.dir).terraform!.backend).toEqual({ local: { path: "terraform.tfstate" } });
  });

  test("when planned, the trust and boundary policies are known before apply (reviewable in the plan)", () => {
    const roles = (plan.json.resource_changes ?? []).filter((c) => c.type === "aws_iam_policy");
    expect(roles).toHaveLength(3);
    for (const c of roles) expect((c.change.after_unknown as Record<string, unknown>).policy ?? false).toBe(false);
  });
});
