/**
 * `terraform validate` and `terraform plan` of the prod stage with no network: the
 * synthesized JSON stays clean, an override file beside it supplies the offline settings.
 */
import fs from "node:fs";
import path from "node:path";
import { synthesizeApp } from "../../modules/app";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { OVERRIDE_FILE, initOffline, planOffline, validateOffline, type OfflinePlan } from "../support/terraform-offline";
import { readStackJson, totalResources } from "../support/tf-json";

jest.setTimeout(180_000);

describe("prod stage offline", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "prod-offline-"));
  let dir = "";
  let plan: OfflinePlan;

  beforeAll(async () => {
    dir = synthesizeApp({ outdir, stages: ["prod"] })[0]!.dir;
    await initOffline(dir);
    plan = await planOffline(dir);
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test("when the override is written, cdk.tf.json stays clean and the override sits beside it", () => {
    expect(fs.existsSync(path.join(dir, OVERRIDE_FILE))).toBe(true);
    const text = fs.readFileSync(path.join(dir, "cdk.tf.json"), "utf8");
    expect(text).not.toContain("127.0.0.1");
    expect(text).not.toContain("skip_credentials_validation");
  });

  test("when validated offline, terraform says the configuration is valid", async () => {
    const r = await validateOffline(dir);
    expect(r.stdout).toContain("The configuration is valid");
  });

  test("when planned on an empty state with every network path refused, it plans to create every resource", () => {
    const managed = (plan.json.resource_changes ?? []).filter((c) => !c.address.startsWith("data."));
    expect(managed).toHaveLength(totalResources(readStackJson(dir)));
    expect(managed.filter((c) => c.change.actions.join() !== "create").map((c) => c.address)).toEqual([]);
  });

  test("when planned, no SecureString carries a value in the plan", () => {
    const secure = (plan.json.resource_changes ?? []).filter((c) => c.type === "aws_ssm_parameter" && c.change.after?.type === "SecureString");
    expect(secure).toHaveLength(3);
    for (const c of secure) {
      expect(c.change.after!.value_wo ?? null).toBeNull();
      expect(c.change.after!.value ?? null).toBeNull();
      expect(c.change.after!.insecure_value ?? null).toBeNull();
    }
  });
});
