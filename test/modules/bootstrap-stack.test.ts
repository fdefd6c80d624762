import { Testing } from "cdktf";
import { BOOTSTRAP_OUTPUTS, BootstrapStack, DEPLOYER_SERVICES, GITHUB_OIDC } from "../../modules/bootstrap-stack";
import { devStage, localStage, pipelineNames, prodStage, serviceOfResourceType, type StageConfig } from "../../modules/stages";
import { buildApp } from "../../modules/app";
import { onlyResource, ref, resources, statementBySid, statementsOf, synthStack, type TfJson } from "../support/tf-json";

const synth = (stage: StageConfig): TfJson => synthStack(new BootstrapStack(Testing.app(), { stage }));

describe("BootstrapStack", () => {
  const stage = prodStage();
  const names = pipelineNames(stage);
  const json = synth(stage);
  const bucket = onlyResource(json, "aws_s3_bucket");
  const role = (name: string) => resources(json, "aws_iam_role").find((r) => r.props.name === name)!;
  const boundary = (name: string) => resources(json, "aws_iam_policy").find((p) => p.props.name === name)!;

  test("when synthesized, the state bucket is the stage's backend bucket, never force-destroyed", () => {
    expect(bucket.props).toEqual({ bucket: "vibe-digest-terraform-state-prod", force_destroy: false });
  });

  test("when synthesized, the bucket is versioned, KMS-encrypted with the state key (bucket key on), public access blocked and ACLs off", () => {
    const key = onlyResource(json, "aws_kms_key");
    expect(onlyResource(json, "aws_s3_bucket_versioning").props.versioning_configuration).toEqual({ status: "Enabled" });
    expect(onlyResource(json, "aws_s3_bucket_server_side_encryption_configuration").props.rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: ref(key, "arn") }, bucket_key_enabled: true },
    ]);
    expect(onlyResource(json, "aws_s3_bucket_public_access_block").props).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(onlyResource(json, "aws_s3_bucket_ownership_controls").props.rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
    expect(onlyResource(json, "aws_kms_alias").props.name).toBe(`alias/${names.stateKeyAlias}`);
    expect(stage.backend).toMatchObject({ kmsKeyId: `alias/${names.stateKeyAlias}`, useLockfile: true });
  });

  test("when synthesized, the bucket policy denies every request without TLS", () => {
    const st = statementBySid(statementsOf(json, onlyResource(json, "aws_s3_bucket_policy").props.policy), "DenyWithoutTls");
    expect(st).toMatchObject({ effect: "Deny", actions: ["s3:*"], resources: ["arn:aws:s3:::vibe-digest-terraform-state-prod", "arn:aws:s3:::vibe-digest-terraform-state-prod/*"], condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }] });
  });

  test("when synthesized, GitHub Actions is the OIDC provider, for the STS audience", () => {
    expect(onlyResource(json, "aws_iam_openid_connect_provider").props).toEqual({ url: `https://${GITHUB_OIDC.host}`, client_id_list: ["sts.amazonaws.com"] });
  });

  test.each([
    [names.planRoleName, [`repo:example-org/vibe-digest:environment:prod-plan`]],
    [names.deployerRoleName, [`repo:example-org/vibe-digest:environment:prod`, `repo:example-org/vibe-digest:environment:prod-apply`]],
  ])("when synthesized, %s trusts only the repository's named environments, for the STS audience", (name, subs) => {
    const trust = statementsOf(json, role(name).props.assume_role_policy);
    expect(trust).toEqual([
      expect.objectContaining({
        actions: ["sts:AssumeRoleWithWebIdentity"],
        principals: [{ type: "Federated", identifiers: [ref(onlyResource(json, "aws_iam_openid_connect_provider"), "arn")] }],
        condition: [
          { test: "StringEquals", variable: `${GITHUB_OIDC.host}:aud`, values: ["sts.amazonaws.com"] },
          { test: "StringEquals", variable: `${GITHUB_OIDC.host}:sub`, values: subs },
        ],
      }),
    ]);
  });

  test("when synthesized, every role carries a boundary: pipeline roles the deployer's, the operator the operator's", () => {
    expect(role(names.deployerRoleName).props.permissions_boundary).toBe(ref(boundary(names.deployerBoundaryName), "arn"));
    expect(role(names.planRoleName).props.permissions_boundary).toBe(ref(boundary(names.deployerBoundaryName), "arn"));
    expect(role(names.operatorRoleName).props.permissions_boundary).toBe(ref(boundary(names.operatorBoundaryName), "arn"));
    expect(boundary(names.workloadBoundaryName).props.name).toBe(names.workloadBoundaryName);
  });

  test("when synthesized, the operator role is assumed by principals of the account and holds no policy of its own (the stage's stack attaches it)", () => {
    const op = role(names.operatorRoleName);
    expect(statementsOf(json, op.props.assume_role_policy)[0]!.principals).toEqual([{ type: "AWS", identifiers: ["arn:aws:iam::222222222222:root"] }]);
    expect(resources(json, "aws_iam_role_policy").filter((p) => p.props.role === ref(op, "id"))).toEqual([]);
  });

  test("when synthesized, the deployer may manage exactly the stack's services (one wildcard per service), its own roles and the state objects", () => {
    const policy = resources(json, "aws_iam_role_policy").find((p) => p.props.role === ref(role(names.deployerRoleName), "id"))!;
    const st = statementsOf(json, policy.props.policy);
    expect(statementBySid(st, "ManageStackServices").actions).toEqual(DEPLOYER_SERVICES.map((s) => `${s}:*`));
    expect(statementBySid(st, "ManageStackRoles").resources).toEqual(["arn:aws:iam::222222222222:role/vibe-digest-prod-*"]);
    expect(statementBySid(st, "StateObjects").resources).toEqual(["arn:aws:s3:::vibe-digest-terraform-state-prod", "arn:aws:s3:::vibe-digest-terraform-state-prod/vibe-digest/prod/*"]);
    expect(statementBySid(st, "SendingDomainRecords").resources).toEqual([`arn:aws:route53:::hostedzone/${stage.hostedZoneId}`]);
  });

  test("when the stage stack's resource types are mapped to IAM services, the deployer may manage every one", () => {
    const { stacks } = buildApp({ outdir: "unused", stages: ["prod"] });
    const types = Object.keys(synthStack(stacks[0]!).resource ?? {});
    const iamPrefix = (service: string) => ({ sesv2: "ses", s3: "s3", iam: "iam", route53: "route53" })[service] ?? service;
    const needed = new Set(types.map((t) => iamPrefix(serviceOfResourceType(t)!)));
    const covered = new Set<string>([...DEPLOYER_SERVICES, "iam", "route53", "s3"]);
    expect([...needed].filter((s) => !covered.has(s))).toEqual([]);
  });

  test("when synthesized, the deployer's boundary denies its own identities, roles without the workload boundary, users, and other regions", () => {
    const st = statementsOf(json, boundary(names.deployerBoundaryName).props.policy);
    expect(statementBySid(st, "DenyBootstrapIdentities").resources).toEqual(expect.arrayContaining([names.deployerRoleArn, names.planRoleArn, `arn:aws:iam::222222222222:policy/${names.workloadBoundaryName}`]));
    expect(statementBySid(st, "RolesOnlyWithWorkloadBoundary").condition).toEqual([{ test: "StringNotEquals", variable: "iam:PermissionsBoundary", values: [names.workloadBoundaryArn] }]);
    expect((statementBySid(st, "DenyOperatorRoleButItsPolicies") as { not_actions?: string[] }).not_actions).toEqual(expect.arrayContaining(["iam:PutRolePolicy", "iam:DeleteRolePolicy"]));
    expect(statementBySid(st, "DenyOtherRegions").condition).toEqual([{ test: "StringNotEquals", variable: "aws:RequestedRegion", values: ["us-east-1"] }]);
  });

  test("when the bootstrap state is local (first apply), the backend is a local file; once migrated, it is the bucket with the state key and a lock file", () => {
    expect(json.terraform!.backend).toEqual({ local: { path: "terraform.tfstate" } });
    const migrated = synth({ ...stage, pipeline: { ...stage.pipeline!, bootstrapState: "bucket" } });
    expect(migrated.terraform!.backend.s3).toEqual({
      bucket: "vibe-digest-terraform-state-prod",
      key: "vibe-digest/bootstrap-prod/terraform.tfstate",
      region: "us-east-1",
      encrypt: true,
      kms_key_id: `alias/${names.stateKeyAlias}`,
      use_lockfile: true,
    });
  });

  test("when synthesized, the provider refuses any account but the stage's, and the outputs name the roles and the boundary", () => {
    expect(json.provider!.aws![0]).toMatchObject({ region: "us-east-1", allowed_account_ids: ["222222222222"] });
    expect(Object.keys(json.output ?? {}).sort()).toEqual(Object.values(BOOTSTRAP_OUTPUTS).sort());
  });

  test("when dev is bootstrapped, every name is dev's (one bootstrap per stage and account)", () => {
    const dev = synth(devStage());
    expect(resources(dev, "aws_iam_role").map((r) => r.props.name).sort()).toEqual(["vibe-digest-dev-deployer", "vibe-digest-dev-operator", "vibe-digest-dev-plan"]);
    expect(onlyResource(dev, "aws_s3_bucket").props.bucket).toBe("vibe-digest-terraform-state-dev");
  });

  test.each([
    ["the local stage (no account of its own, no S3 backend)", () => localStage()],
    ["a repository that is not owner/name", () => ({ ...prodStage(), pipeline: { repository: "vibe-digest", bootstrapState: "local" as const } })],
  ])("when given %s, it throws STAGE_INVALID", (_what, make) => {
    expect(() => new BootstrapStack(Testing.app(), { stage: make() })).toThrow(expect.objectContaining({ code: "STAGE_INVALID" }) as unknown as Error);
  });
});
