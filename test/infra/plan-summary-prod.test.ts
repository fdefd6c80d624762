/**
 * The plan review of offline plans of prod (an empty state: every resource is created; the
 * override beside cdk.tf.json refuses all network). The unchanged stage must have no
 * high-risk change and a priced monthly cost; risky additions a developer might make (IAM
 * users and keys, AdministratorAccess, hand-written policies, a written SecureString value,
 * SES without TLS, a public S3 bucket, a fail-open DNS firewall, types without a rule) must
 * be reported with the right risk and reason, even though everything is a create. The
 * command line is run on these plans too: the gate, paths from INIT_CWD, a binary plan file.
 */
import fs from "node:fs";
import path from "node:path";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamAccessKey } from "@cdktf/provider-aws/lib/iam-access-key";
import { IamGroup } from "@cdktf/provider-aws/lib/iam-group";
import { IamGroupPolicy } from "@cdktf/provider-aws/lib/iam-group-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { IamServiceLinkedRole } from "@cdktf/provider-aws/lib/iam-service-linked-role";
import { IamUser } from "@cdktf/provider-aws/lib/iam-user";
import { IamUserPolicy } from "@cdktf/provider-aws/lib/iam-user-policy";
import { IamUserPolicyAttachment } from "@cdktf/provider-aws/lib/iam-user-policy-attachment";
import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { Route53ResolverFirewallConfig } from "@cdktf/provider-aws/lib/route53-resolver-firewall-config";
import { Route53ResolverFirewallDomainList } from "@cdktf/provider-aws/lib/route53-resolver-firewall-domain-list";
import { Route53ResolverFirewallRule } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule";
import { Route53ResolverFirewallRuleGroup } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule-group";
import { Route53ResolverFirewallRuleGroupAssociation } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule-group-association";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import type { CliIo } from "../../app/src/cli-kit";
import { prodStage } from "../../modules/stages";
import { INVARIANTS } from "../../scripts/lib/invariants";
import { PRICES } from "../../scripts/lib/plan-cost";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { main, type PlanSummary } from "../../scripts/plan-summary";
import { changeAt, editStatements, expectReported, planOfflineJson, review, synthEdited, type ReportedRow, type StackEdit } from "../support/plan-edits";

jest.setTimeout(240_000);

// Assembled at run time: a value written into a SecureString must never reach the review.
const CANARY = ["CANARY", "secure", "string", "value"].join("-");

const HANDWRITTEN = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] });

/** What a hurried developer might add to prod, all created in an offline plan. */
const RISKY_ADDITIONS: StackEdit[] = [
  // The two edits the issue found invisible in an offline prod plan.
  (s) => editStatements(s.taskRole, "policy-document", (st) => st.map((x) => (x.sid === "DeliveryLedgerReadWrite" ? { ...x, actions: ["*"] } : x))),
  (s) => s.parameters.cmk!.key.addOverride("enable_key_rotation", false),
  // IAM outside roles.
  (s) => {
    const user = new IamUser(s, "legacy-sender", { name: "vibe-digest-prod-legacy-sender" });
    new IamAccessKey(s, "legacy-sender-key", { user: user.name });
    new IamUserPolicy(s, "legacy-sender-policy", { user: user.name, policy: HANDWRITTEN });
    new IamUserPolicyAttachment(s, "legacy-sender-read-only", { user: user.name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" });
    const group = new IamGroup(s, "operators", { name: "vibe-digest-prod-operators" });
    new IamGroupPolicy(s, "operators-policy", { group: group.name, policy: HANDWRITTEN });
  },
  (s) => new IamRolePolicyAttachment(s.taskRole, "admin", { role: s.taskRole.role.name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }),
  // A SecureString whose value Terraform writes (into plan and state).
  (s) => {
    const p = s.parameters.parameters.sendgridApiKey!;
    p.addOverride("value_wo", null);
    p.addOverride("value_wo_version", null);
    p.addOverride("value", CANARY);
  },
  (s) => s.sender.configurationSet!.addOverride("delivery_options.tls_policy", "OPTIONAL"),
  // A state bucket left open.
  (s) => {
    const bucket = new S3Bucket(s, "state-bucket", { bucket: "vibe-digest-prod-state-copy" });
    new S3BucketPublicAccessBlock(s, "state-bucket-public-access", { bucket: bucket.id, blockPublicAcls: false, blockPublicPolicy: false, ignorePublicAcls: false, restrictPublicBuckets: false });
    new S3BucketVersioningA(s, "state-bucket-versioning", { bucket: bucket.id, versioningConfiguration: { status: "Suspended" } });
    new S3BucketServerSideEncryptionConfigurationA(s, "state-bucket-encryption", { bucket: bucket.id, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] });
    const doc = new DataAwsIamPolicyDocument(s, "state-bucket-policy-document", {
      statement: [{ sid: "PublicRead", actions: ["s3:GetObject"], resources: [`${bucket.arn}/*`], principals: [{ type: "*", identifiers: ["*"] }] }],
    });
    new S3BucketPolicy(s, "state-bucket-policy", { bucket: bucket.id, policy: doc.json });
  },
  // A DNS firewall that lets a list through and fails open.
  (s) => {
    const list = new Route53ResolverFirewallDomainList(s.network, "dns-allow-list", { name: "vibe-digest-prod-feeds", domains: ["vibedigest.example.com."] });
    const group = new Route53ResolverFirewallRuleGroup(s.network, "dns-rules", { name: "vibe-digest-prod-dns" });
    new Route53ResolverFirewallRule(s.network, "dns-allow-feeds", { name: "allow-feeds", action: "ALLOW", firewallDomainListId: list.id, firewallRuleGroupId: group.id, priority: 100 });
    new Route53ResolverFirewallRuleGroupAssociation(s.network, "dns-rules-association", { name: "vibe-digest-prod-dns", firewallRuleGroupId: group.id, priority: 101, vpcId: s.network.vpc.id });
    new Route53ResolverFirewallConfig(s.network, "dns-firewall-config", { resourceId: s.network.vpc.id, firewallFailOpen: "ENABLED" });
  },
  // Types without a specific rule: one in a security-relevant service, one not.
  (s) => new IamServiceLinkedRole(s, "ecs-service-role", { awsServiceName: "ecs.amazonaws.com" }),
  (s) => new CloudwatchDashboard(s, "dashboard", { dashboardName: "vibe-digest-prod", dashboardBody: JSON.stringify({ widgets: [] }) }),
];

/** Collects what a command writes. */
function collectingIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY: false, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}
const lastJson = (io: { out: string[] }) => JSON.parse(io.out.join("").trim().split("\n").at(-1)!) as Record<string, unknown>;

describe("plan review of offline prod plans", () => {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "plan-review-prod-"));
  const timings: string[] = [];
  afterAll(() => {
    console.log(`offline prod plans: ${timings.join(", ")}`);
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  const planned = async (name: string, edits: StackEdit[]): Promise<{ dir: string; summary: PlanSummary }> => {
    const t0 = Date.now();
    const dir = synthEdited(path.join(outdir, name), prodStage(), edits);
    const json = await planOfflineJson(dir);
    fs.writeFileSync(path.join(dir, "prod.plan.json"), JSON.stringify(json));
    timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { dir, summary: review(json, dir) };
  };

  describe("when the unchanged stage is planned (everything is created)", () => {
    let dir = "";
    let s: PlanSummary;
    beforeAll(async () => {
      ({ dir, summary: s } = await planned("baseline", []));
    });

    test("when reviewed, nothing is high risk and the verdict names the medium-risk changes first", () => {
      expect(s.risks.high).toBe(0);
      expect(s.verdict).toMatch(/^No high-risk change\. \d+ medium-risk changes: /);
      expect(s.actions).toEqual({ create: s.changes.length, update: 0, replace: 0, destroy: 0, forget: 0 });
    });

    test.each<ReportedRow>([
      ["the NAT gateway (the SendGrid opt-in)", "network/nat", "medium", "internet-path", /a path between the VPC and the internet/, null],
      ["HTTPS egress to anywhere (the allowInternetEgress rule)", "network/task-out-443-to-internet", "medium", "sg-egress-cidr", /egress to the internet \(0\.0\.0\.0\/0\)/, null],
      ["the task role", "task-role/role", "medium", "policy-new-principal", /assumable by `Service ecs-tasks\.amazonaws\.com`/, null],
      ["the task role's policy", "task-role/policy", "medium", "policy-new", /new policy: 7 statements/, null],
      ["an alarm", "monitoring/alarm-no-successful-digest", "low", "create", /new cloudwatch_metric_alarm/, null],
    ])("when %s is created, it is reported at %s as %s (%s)", (...row) => expectReported(s, ...row));

    test("when reviewed, every change is named by its construct path", () => {
      expect(s.constructPaths).toBe(true);
      expect(s.changes.filter((c) => !c.path?.startsWith("vibe-digest-prod/")).map((c) => c.address)).toEqual([]);
    });

    test("when reviewed, every invariant holds", () => {
      expect(s.invariants.map((i) => [i.id, i.status])).toEqual(INVARIANTS.map((i) => [i.id, "holds"]));
    });

    test("when a policy is known only after apply, the review says why and diffs the policy document's planned statements", () => {
      // Identity policies name resources by ARNs built from the stage's account and names, so
      // they are known; a key policy names the roles it grants to, created by this plan.
      expect(changeAt(s, "task-role/policy").policies[0]).toMatchObject({ kind: "identity", source: "known" });
      const [policy] = changeAt(s, "parameters/key/policy").policies;
      expect(policy).toMatchObject({ kind: "key", source: "document", unknownReason: expect.stringMatching(/parameters\/key\/policy-document.*task-role\/role \(created by this plan\)/) });
      expect(policy!.statements).toContainEqual(expect.stringMatching(/^added `DecryptViaSsmForReaders` \(Allow\): \+actions: `kms:Decrypt`/));
      const [trust] = changeAt(s, "task-role/role").policies;
      expect(trust!.statements).toEqual(["added `AssumedByService` (Allow): +actions: `sts:AssumeRole`; +principals: `Service ecs-tasks.amazonaws.com`; +conditions: `StringEquals aws:SourceAccount = 222222222222`"]);
    });

    test("when priced, the stage's monthly cost is the sum of dated line items from official pricing pages", () => {
      const c = s.cost;
      expect(c.date).toBe(PRICES.date);
      expect(c.before).toBe(0);
      expect(c.after).toBeCloseTo(c.lines.reduce((n, l) => n + l.usdMonth, 0), 6);
      expect(c.delta).toBeCloseTo(c.after, 6);
      const endpoints = c.lines.filter((l) => l.item.startsWith("interface endpoint"));
      expect(endpoints).toHaveLength(5);
      for (const l of endpoints) expect(l.usdMonth).toBeCloseTo(1 * 730 * 0.01 + (1 / 5) * 0.01, 6);
      expect(c.lines.find((l) => l.item === "NAT gateway")!.usdMonth).toBeCloseTo(730 * 0.045 + 0.045, 6);
      expect(c.lines.filter((l) => l.item === "KMS key").map((l) => l.usdMonth)).toEqual([1, 1]);
      expect(c.lines.filter((l) => l.item === "alarm")).toHaveLength(16);
      for (const url of Object.values(c.sources)) expect(url).toMatch(/^https:\/\/aws\.amazon\.com\/[a-z0-9-]+(\/[a-z0-9-]+)?\/pricing\/(on-demand\/)?$/);
      expect(c.notPriced).toContainEqual(expect.stringMatching(/data transfer out/));
      expect(s.markdown).toContain(`list prices of ${PRICES.date}`);
    });

    test("when run as a pipeline gate with paths relative to INIT_CWD, --fail-on high passes and --fail-on medium fails", async () => {
      const env = { INIT_CWD: path.dirname(dir) };
      const rel = path.join(path.basename(dir), "prod.plan.json");
      const high = collectingIo();
      expect(await main([rel, "--fail-on", "high", "--out", "review.md"], high, env)).toBe(0);
      expect(lastJson(high)).toMatchObject({ ok: true, exitCode: 0, failOn: "high", gate: [], summaryFile: path.join(path.dirname(dir), "review.md") });
      const md = fs.readFileSync(path.join(path.dirname(dir), "review.md"), "utf8");
      expect(md.split("\n").slice(0, 3)).toEqual(["## Plan review: prod.plan.json", "", `**${s.verdict}**`]);
      const medium = collectingIo();
      expect(await main([rel, "--fail-on", "medium"], medium, env)).toBe(1);
      expect(lastJson(medium)).toMatchObject({ ok: false, exitCode: 1, gate: expect.arrayContaining(["vibe-digest-prod/network/nat"]) });
    });

    test("when given the binary plan file, it reviews the same plan (terraform shows it as JSON)", async () => {
      const io = collectingIo();
      expect(await main([path.join(dir, "offline.tfplan"), "--json"], io, {})).toBe(0);
      expect(lastJson(io)).toMatchObject({ verdict: s.verdict, risks: s.risks });
    });

    test("when no cdk.tf.json is beside the plan, it warns and names changes by address", async () => {
      const lone = path.join(outdir, "lone.plan.json");
      fs.copyFileSync(path.join(dir, "prod.plan.json"), lone);
      const io = collectingIo();
      expect(await main([lone], io, {})).toBe(0);
      const lines = io.out.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ level: "warn", msg: expect.stringMatching(/no cdk\.tf\.json beside the plan/) });
      expect((lines.at(-1)!.changes as { label: string; address: string }[]).every((c) => c.label === c.address)).toBe(true);
    });
  });

  describe("when risky resources are added to prod (everything is created)", () => {
    let s: PlanSummary;
    beforeAll(async () => {
      ({ summary: s } = await planned("risky-additions", RISKY_ADDITIONS));
    });

    test.each<ReportedRow>([
      ["a task-role action becomes *", "task-role/policy", "high", "policy-wildcard-action", /wildcard action `\*` in `DeliveryLedgerReadWrite`/, "iam-no-wildcard-action"],
      ["a key is created without rotation", "parameters/key/key", "high", "kms-rotation-off", /created without key rotation/, "kms-rotation"],
      ["an IAM access key is created", "legacy-sender-key", "high", "iam-access-key", /long-lived access key whose secret Terraform writes into its state/, null],
      ["an IAM user is created", "legacy-sender", "medium", "iam-user", /long-lived IAM user/, null],
      ["a user gets a hand-written policy with s3:* on *", "legacy-sender-policy", "high", "policy-wildcard-action", /wildcard action `s3:\*`/, "iam-policy-from-document"],
      ["a group gets a hand-written policy", "operators-policy", "high", "invariant:iam-policy-from-document", /policy is not a policy-document reference/, "iam-policy-from-document"],
      ["AdministratorAccess is attached to the task role", "task-role/admin", "high", "iam-admin-attachment", /attaches the AWS-managed AdministratorAccess/, "iam-no-managed-policy"],
      ["an AWS-managed policy is attached to a user", "legacy-sender-read-only", "high", "invariant:iam-no-managed-policy", /breaks invariant `iam-no-managed-policy`: attaches a policy/, "iam-no-managed-policy"],
      ["a SecureString gets a value in the configuration", "parameters/param-sendgrid-api-key", "high", "invariant:secure-strings-write-only", /SecureString is not write-only/, "secure-strings-write-only"],
      ["SES may deliver without TLS", "sender/configuration-set", "high", "ses-tls-optional", /SES may deliver without TLS/, "ses-tls-required"],
      ["a bucket's public access block is off", "state-bucket-public-access", "high", "s3-public-access", /public access no longer blocked/, null],
      ["a bucket's versioning is suspended", "state-bucket-versioning", "high", "s3-versioning-off", /versioning suspended/, null],
      ["a bucket is encrypted with an S3-managed key", "state-bucket-encryption", "medium", "s3-encryption", /S3-managed key/, null],
      ["a bucket policy lets anyone in", "state-bucket-policy", "high", "policy-any-principal", /lets any principal \(`\*`\) in/, null],
      ["a DNS firewall rule allows a domain list", "network/dns-allow-feeds", "medium", "dns-firewall-action", /allows a domain list/, null],
      ["the DNS firewall fails open", "network/dns-firewall-config", "high", "dns-firewall-fail-open", /fail open/, null],
      ["a security-relevant type without a rule", "ecs-service-role", "medium", "unreviewed-type", /no specific rule for aws_iam_service_linked_role/, null],
      ["a type without a rule elsewhere", "dashboard", "low", "create", /new cloudwatch_dashboard/, null],
    ])("when %s, it is reported at %s as %s (%s) with its reason and invariant", (...row) => expectReported(s, ...row));

    test("when a SecureString's value is in the plan, the review never prints it", () => {
      expect(JSON.stringify(s)).not.toContain(CANARY);
    });

    test("when a type has no price rule, the cost says it is not priced", () => {
      expect(s.cost.notPriced).toContainEqual("aws_cloudwatch_dashboard (no price rule)");
      expect(s.cost.lines.some((l) => l.item === "S3 bucket")).toBe(true);
    });
  });
});
