/**
 * The plan-review command line and its pure parts. Real plans are reviewed in
 * plan-summary-local.test.ts (against moto) and plan-summary-prod.test.ts (offline prod);
 * here: what is refused and how, --help, and the statement diff on small policies.
 */
import fs from "node:fs";
import path from "node:path";
import { CliError, EXIT, type CliIo } from "../../app/src/cli-kit";
import { actionOf } from "../../scripts/lib/plan-model";
import { describeTemplate, diffStatements, policyCallouts, statementsOfJson, type PolicyKind } from "../../scripts/lib/plan-policy";
import { INVARIANTS } from "../../scripts/lib/invariants";
import { derivedPath } from "../../scripts/lib/plan-review";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { main, summarizePlan } from "../../scripts/plan-summary";

function collectingIo(isTTY = false): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

const policy = (...statements: object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

describe("plan-summary command line", () => {
  const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "plan-summary-cli-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), name);

  test.each([
    ["an empty object", "empty.json", "{}", /is not a Terraform plan: it is an empty object/],
    ["a state file", "terraform.tfstate.json", JSON.stringify({ version: 4, terraform_version: "1.11.4", serial: 3, lineage: "x", outputs: {}, resources: [] }), /is a Terraform state file, not a plan/],
    ["the JSON of a state", "state.json", JSON.stringify({ format_version: "1.0", terraform_version: "1.11.4", values: { root_module: {} } }), /is the JSON of a Terraform state, not of a plan/],
    ["garbage", "garbage.json", "this is not json {", /is not JSON/],
    ["a JSON list", "list.json", "[1, 2]", /is not a Terraform plan: not a JSON object/],
    ["a plan with malformed changes", "bad.json", JSON.stringify({ format_version: "1.2", planned_values: {}, resource_changes: [{ address: "x" }] }), /resource_changes\.0\.type is missing or malformed/],
  ])("when given %s, it refuses with a clear message and exit 2", async (_what, name, text, message) => {
    const io = collectingIo();
    expect(await main([write(name, text)], io, { INIT_CWD: dir })).toBe(EXIT.config);
    expect(JSON.parse(io.out.join(""))).toMatchObject({ ok: false, code: "PLAN_INVALID", message: expect.stringMatching(message), exitCode: EXIT.config });
  });

  test.each([
    ["a missing file", "nope.json", /no such file/],
    ["a folder", ".", /is a folder/],
  ])("when given %s, it refuses with exit 2 and names the path from INIT_CWD", async (_what, arg, message) => {
    const io = collectingIo(true);
    expect(await main([arg], io, { INIT_CWD: dir })).toBe(EXIT.config);
    expect(io.err.join("")).toMatch(message);
    expect(io.err.join("")).toContain(path.resolve(dir, arg));
  });

  test("when --config names a file that is missing, it refuses with exit 2 (it does not fall back silently)", async () => {
    const io = collectingIo();
    const plan = write("minimal.json", JSON.stringify({ format_version: "1.2", planned_values: {}, resource_changes: [] }));
    expect(await main([plan, "--config", "missing-cdk.tf.json"], io, { INIT_CWD: dir })).toBe(EXIT.config);
    expect(JSON.parse(io.out.join(""))).toMatchObject({ code: "PLAN_INVALID", message: expect.stringMatching(/configuration .*missing-cdk\.tf\.json: no such file/) });
  });

  test.each([
    ["no argument", []],
    ["an unknown option", ["plan.json", "--fail-off", "high"]],
    ["a risk that is not one", ["plan.json", "--fail-on", "urgent"]],
    ["a negative assumption", ["plan.json", "--run-minutes", "-1"]],
    ["two plans", ["a.json", "b.json"]],
  ])("when given %s, it exits 64 without reading anything", async (_what, argv) => {
    const io = collectingIo(true);
    expect(await main(argv, io, { INIT_CWD: dir })).toBe(EXIT.usage);
    expect(io.err.join("")).toMatch(/plan-summary: /);
    expect(io.out).toEqual([]);
  });

  test("when asked for --help, it describes the command, INIT_CWD and the exit codes, and exits 0", async () => {
    const io = collectingIo(true);
    expect(await main(["--help"], io, {})).toBe(EXIT.ok);
    const help = io.out.join("");
    expect(help).toMatch(/Review a Terraform plan for a pull request/);
    expect(help).toMatch(/--fail-on <risk>/);
    expect(help).toMatch(/INIT_CWD\s+set by npm/);
    expect(help).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*--fail-on.*\n\s+2 .*not a plan.*\n\s+3 .*\n\s+64 /);
  });

  test("when summarizePlan is handed something that is not a plan, it throws PLAN_INVALID", () => {
    expect(() => summarizePlan({})).toThrow(CliError);
    expect(() => summarizePlan({})).toThrow(/not a Terraform plan/);
  });
});

describe("plan review helpers", () => {
  test.each([
    [["create"], "create"],
    [["update"], "update"],
    [["delete"], "destroy"],
    [["delete", "create"], "replace"],
    [["create", "delete"], "replace"],
    [["forget"], "forget"],
    [["no-op"], "no-op"],
    [["read"], "read"],
  ])("when terraform's actions are %p, the change is %s", (actions, action) => {
    expect(actionOf(actions)).toBe(action);
  });

  test("when a template reads the account from a key's ARN and references a resource, it is said in words", () => {
    const label = (a: string) => ({ "aws_dynamodb_table.ledger_table_BE9C0D06": "ledger/table" })[a] ?? a;
    expect(describeTemplate('arn:${element(split(":", aws_kms_key.k_1.arn), 1)}:logs:us-east-1:${element(split(":", aws_kms_key.k_1.arn), 4)}:log-group:/x', label)).toBe("arn:‹partition›:logs:us-east-1:‹account›:log-group:/x");
    expect(describeTemplate("${aws_dynamodb_table.ledger_table_BE9C0D06.arn}", label)).toBe("‹ledger/table.arn›");
    expect(describeTemplate("${jsonencode(local.x)}", label)).toBe("‹expression›");
  });

  test("when a destroyed resource is no longer in the configuration, its construct path comes from its logical id", () => {
    expect(derivedPath("aws_dynamodb_table.ledger_table_BE9C0D06", "vibe-digest-prod")).toBe("vibe-digest-prod/ledger/table");
    expect(derivedPath("aws_dynamodb_table.ledger_table_BE9C0D06", undefined)).toBeUndefined();
  });

  const ALLOW_READ = { Sid: "Read", Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::b/*" };
  test.each<[string, string, string, PolicyKind, string, string]>([
    ["a Deny becomes an Allow", "high", "policy-deny-to-allow", "identity", policy({ ...ALLOW_READ, Effect: "Deny" }), policy(ALLOW_READ)],
    ["a trust condition is removed", "high", "policy-condition-removed", "trust", policy({ Sid: "T", Effect: "Allow", Action: "sts:AssumeRole", Principal: { Service: "ecs-tasks.amazonaws.com" }, Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } } }), policy({ Sid: "T", Effect: "Allow", Action: "sts:AssumeRole", Principal: { Service: "ecs-tasks.amazonaws.com" } })],
    ["anyone is let into a resource policy", "high", "policy-any-principal", "resource", policy(ALLOW_READ), policy({ ...ALLOW_READ, Principal: "*" })],
    ["NotAction is allowed", "high", "policy-not-action", "identity", policy(ALLOW_READ), policy(ALLOW_READ, { Sid: "All", Effect: "Allow", NotAction: "iam:*", Resource: "*" })],
    ["an action is added", "medium", "policy-widens", "identity", policy(ALLOW_READ), policy({ ...ALLOW_READ, Action: ["s3:GetObject", "s3:PutObject"] })],
    ["an action is removed", "low", "policy-narrows", "identity", policy({ ...ALLOW_READ, Action: ["s3:GetObject", "s3:PutObject"] }), policy(ALLOW_READ)],
    ["only the order changes", "none", "policy-unchanged", "identity", policy({ ...ALLOW_READ, Action: ["s3:PutObject", "s3:GetObject"] }), policy({ ...ALLOW_READ, Action: ["s3:GetObject", "s3:PutObject"] })],
  ])("when %s, the policy change is %s risk (%s)", (_what, risk, rule, kind, before, after) => {
    const changes = diffStatements(statementsOfJson(before), statementsOfJson(after)!);
    const callouts = policyCallouts(changes, kind, false, new Set(["123456789012"]));
    expect(callouts).toContainEqual(expect.objectContaining({ risk, rule }));
    const top = ["high", "medium", "low", "none"].find((r) => callouts.some((c) => c.risk === r));
    expect(top).toBe(risk);
  });
});

describe("docs/plan-review.md", () => {
  const doc = fs.readFileSync(path.join(PROJECT_ROOT, "docs", "plan-review.md"), "utf8");
  const section = (heading: string) => doc.slice(doc.indexOf(`## ${heading}`), doc.indexOf("\n## ", doc.indexOf(`## ${heading}`) + 3));
  const firstCells = (text: string) => text.split("\n").filter((l) => l.startsWith("| `")).flatMap((l) => [...l.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));

  test("when the rules are documented, every rule id in the code is in the table and every documented id is in the code", () => {
    const code = ["plan-rules.ts", "plan-policy.ts"].map((f) => fs.readFileSync(path.join(PROJECT_ROOT, "scripts", "lib", f), "utf8")).join("\n");
    const literal = [...code.matchAll(/(?:\bf\(|push\()(?:"(?:high|medium|low|none)"|[^,]+\?[^,]+:[^,]+), "([a-z0-9-]+)"|(?:id: |mustStayOn\(|keyRule\()"([a-z0-9-]+)"/g)].map((m) => m[1] ?? m[2]!);
    // Built at run time: `stateful-${action}`, the action itself, and one per invariant.
    const dynamic = ["stateful-destroy", "stateful-replace", "destroy", "replace", "create", "update", "invariant:<id>"];
    const documented = [...firstCells(section("Risk rules")), ...[...section("Risk rules").split("Attributes shown without a finding")[1]!.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!)];
    expect([...new Set(documented)].sort()).toEqual([...new Set([...literal, ...dynamic])].sort());
  });

  test("when the invariants are documented, the table lists each one the code checks", () => {
    expect(firstCells(section("Invariants"))).toEqual(INVARIANTS.map((i) => i.id));
  });
});
