/**
 * The example pipeline (docs/examples/github-actions-deploy.yml) stays where GitHub never
 * runs it and agrees with the code: the npm scripts it calls exist, its environments are
 * the ones the bootstrap stack's roles trust, the plan files it moves are the ones
 * scripts/infra.ts writes, and the summary is called with --fail-on high.
 */
import fs from "node:fs";
import path from "node:path";
import { planFiles } from "../../scripts/infra";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { devStage, pipelineNames, prodStage } from "../../modules/stages";

const FILE = path.join(PROJECT_ROOT, "docs", "examples", "github-actions-deploy.yml");
const text = fs.readFileSync(FILE, "utf8");
const scripts = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

describe("the example pipeline", () => {
  test("when it is in the repository, it is not where GitHub runs workflows", () => {
    expect(path.relative(PROJECT_ROOT, FILE)).not.toMatch(/^\.github\//);
    expect(fs.existsSync(path.join(PROJECT_ROOT, ".github", "workflows"))).toBe(false);
  });

  test("when it runs npm scripts, each exists in package.json for both stages", () => {
    const used = [...text.matchAll(/npm run (?:--silent )?([a-z:]+(?:\$\{\{ matrix\.stage \}\})?)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(4);
    for (const u of used) for (const stage of ["dev", "prod"]) expect(Object.keys(scripts)).toContain(u.replace("${{ matrix.stage }}", stage));
  });

  test.each([
    ["dev", devStage()],
    ["prod", prodStage()],
  ])("when it names environments, they are the ones %s's pipeline roles trust", (_name, stage) => {
    const names = pipelineNames(stage);
    const envs = [...text.matchAll(/environment: (\$\{\{ matrix\.stage \}\}(?:-[a-z]+)?)/g)].map((m) => m[1]!.replace("${{ matrix.stage }}", stage.name));
    expect(envs.sort()).toEqual([names.applyEnvironment, names.mainEnvironment, names.planEnvironment].sort());
  });

  test("when it moves and summarizes plans, the file names are the ones scripts/infra.ts writes", () => {
    for (const kind of ["online", "read-only"] as const) {
      const f = planFiles("prod", kind);
      expect(text.replace(/\$\{\{ matrix\.stage \}\}/g, "prod")).toContain(kind === "online" ? f.plan : f.json);
    }
    expect(text).toContain("--read-only");
    expect(text.match(/plan:summary -- .* --fail-on high/g)).toHaveLength(2);
  });

  test("when it asks for permissions, the workflow starts from none and only OIDC jobs get id-token", () => {
    expect(text).toMatch(/^permissions: \{\}$/m);
    expect((text.match(/id-token: write/g) ?? []).length).toBe(3);
    expect(text).not.toMatch(/secrets\.AWS_|aws-access-key-id/);
  });
});
