/**
 * What a real stage's pipeline needs before its first plan, in the stage's account, applied
 * once by an administrator (docs/first-deploy.md):
 *
 * - the state bucket and its key (the stage's S3 backend: versioned, KMS, TLS-only, public
 *   access blocked, S3-native lock file);
 * - GitHub Actions' OIDC provider, and two pipeline roles it may assume: the **plan** role
 *   (pull-request plans: read the state, nothing else; the plan does not refresh) and the
 *   **deployer** (the plan made on merge and its apply, behind an environment approval);
 * - the **operator** role (each stage's stack attaches its operator policy to it);
 * - three permissions boundaries: the deployer's (what a pipeline may ever do: the stack's
 *   services, roles only with the workload boundary, never the bootstrap's own identities),
 *   the operator's, and the workload's (every role the stage's stack creates carries it).
 *
 * Its own state starts in a local file (the bucket does not exist yet) and moves into the
 * bucket afterwards (`pipeline.bootstrapState: "bucket"`, then `terraform init -migrate-state`).
 */
import "./cdktf-node24";
import { Construct } from "constructs";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { IamOpenidConnectProvider } from "@cdktf/provider-aws/lib/iam-openid-connect-provider";
import { CustomerManagedKey } from "./customer-managed-key";
import { ConfigError } from "./errors";
import { PermissionsBoundary } from "./permissions-boundary";
import { partitionOf, type PolicyStatement } from "./policy";
import { Role } from "./role";
import { pipelineNames, type StageConfig } from "./stages";
import { StateBucket } from "./state-bucket";
import { assertAccount, assertRegion } from "./validate";

/** GitHub Actions' OIDC issuer (without https://) and the audience its tokens carry for AWS. */
export const GITHUB_OIDC = { host: "token.actions.githubusercontent.com", audience: "sts.amazonaws.com" } as const;

/**
 * IAM prefixes of the services a stage's stack manages, which the deployer may use (its
 * boundary caps them further). `iam`, `route53` and `s3` are not here: the deployer gets
 * those on its own roles, the stage's hosted zone and the state objects only.
 */
export const DEPLOYER_SERVICES = [
  "ce", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events", "kms", "logs", "route53resolver", "scheduler", "ses", "sns", "sqs", "ssm",
] as const;

/**
 * Actions the operator commands and the doctor use: the operator boundary's ceiling. Each
 * stage's stack grants its operator policy a subset, scoped to that stage's resources.
 */
export const OPERATOR_ACTIONS = [
  "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
  "ecr:DescribeImages",
  "iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey",
  "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo",
  "scheduler:GetSchedule",
  "ses:GetAccount", "ses:GetEmailIdentity",
  "sns:ListSubscriptionsByTopic",
  "ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath",
  "ssm:LabelParameterVersion", "ssm:PutParameter", "ssm:UnlabelParameterVersion",
] as const;

/**
 * Actions of the roles a stage's stack creates (task, execution, scheduler, flow logs): the
 * workload boundary's ceiling.
 */
export const WORKLOAD_ACTIONS = [
  "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
  "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer",
  "ecs:RunTask",
  "iam:PassRole",
  "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo",
  "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents",
  "ses:GetSendQuota", "ses:SendEmail", "ses:SendRawEmail",
  "sqs:SendMessage",
  "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:PutParameter",
] as const;

/** Props for {@link BootstrapStack}. */
export interface BootstrapStackProps {
  /** The real stage whose pipeline this bootstraps (its account, region, backend, pipeline). */
  readonly stage: StageConfig;
}

/** Names of the bootstrap stack's Terraform outputs. */
export const BOOTSTRAP_OUTPUTS = {
  deployerRoleArn: "deployer_role_arn",
  planRoleArn: "plan_role_arn",
  operatorRoleArn: "operator_role_arn",
  stateBucket: "state_bucket",
  workloadBoundaryArn: "workload_boundary_arn",
} as const;

export class BootstrapStack extends TerraformStack {
  readonly stage: StageConfig;
  readonly stateKey: CustomerManagedKey;
  readonly stateBucket: StateBucket;
  readonly deployer: Role;
  readonly planner: Role;
  readonly operator: Role;
  readonly boundaries: { readonly deployer: PermissionsBoundary; readonly operator: PermissionsBoundary; readonly workload: PermissionsBoundary };

  constructor(scope: Construct, props: BootstrapStackProps) {
    const { stage } = props;
    const names = pipelineNames(stage);
    super(scope, names.bootstrapStackName);
    this.stage = stage;
    if (stage.target.kind !== "aws" || stage.backend.kind !== "s3" || !stage.pipeline) {
      throw new ConfigError("STAGE_INVALID", this.node.path, "stage", "a real-AWS stage with an S3 backend and a pipeline");
    }
    const { account, region } = stage;
    assertAccount(this, "stage.account", account);
    assertRegion(this, "stage.region", region);
    if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(stage.pipeline.repository)) {
      throw new ConfigError("STAGE_INVALID", this.node.path, "stage.pipeline.repository", "a GitHub repository as owner/name");
    }
    const backend = stage.backend;
    const partition = partitionOf(region);
    const iamArn = (resource: string) => `arn:${partition}:iam::${account}:${resource}`;
    const statePrefix = `${backend.key.split("/").slice(0, -1).join("/")}/`;

    new AwsProvider(this, "aws", {
      region,
      allowedAccountIds: [account],
      defaultTags: [{ tags: { Project: "vibe-digest", Stage: stage.name, ManagedBy: "cdktf", Part: "bootstrap" } }],
    });
    if (stage.pipeline.bootstrapState === "bucket") {
      new S3Backend(this, {
        bucket: backend.bucket,
        key: `vibe-digest/bootstrap-${stage.name}/terraform.tfstate`,
        region: backend.region,
        encrypt: true,
        kmsKeyId: `alias/${names.stateKeyAlias}`,
      });
      this.addOverride("terraform.backend.s3.use_lockfile", true);
    } else {
      new LocalBackend(this, { path: "terraform.tfstate" });
    }

    // The state: its key and its bucket.
    this.stateKey = new CustomerManagedKey(this, "state-key", {
      description: `vibe-digest ${stage.name}: encrypts the Terraform state in ${backend.bucket}`,
      alias: names.stateKeyAlias,
      account,
      region,
    });
    this.stateBucket = new StateBucket(this, "state", { bucketName: backend.bucket, key: this.stateKey });

    // The boundaries, first: the roles below and the stage's roles carry them.
    const workloadBoundaryArn = names.workloadBoundaryArn;
    this.boundaries = {
      workload: new PermissionsBoundary(this, "workload-boundary", {
        policyName: names.workloadBoundaryName,
        description: `vibe-digest ${stage.name}: the most a role of the stage's stack (task, execution, scheduler, flow logs) may do`,
        statements: [
          { sid: "WorkloadActionsInThisAccount", actions: [...WORKLOAD_ACTIONS], resources: ["*"], conditions: [{ test: "StringEquals", variable: "aws:ResourceAccount", values: [account] }] },
          // GetAuthorizationToken and GetSendQuota have no resource, so no resource account.
          { sid: "WorkloadActionsWithoutResource", actions: ["ecr:GetAuthorizationToken", "ses:GetSendQuota"], resources: ["*"] },
          ...otherRegionsDenied(region),
        ],
      }),
      operator: new PermissionsBoundary(this, "operator-boundary", {
        policyName: names.operatorBoundaryName,
        description: `vibe-digest ${stage.name}: the most an operator role may do (secrets, ledger, rollback, rollout, rotate, doctor)`,
        statements: [
          { sid: "OperatorActionsInThisAccount", actions: [...OPERATOR_ACTIONS], resources: ["*"], conditions: [{ test: "StringEquals", variable: "aws:ResourceAccount", values: [account] }] },
          { sid: "OperatorActionsWithoutResource", actions: ["ses:GetAccount", "ssm:DescribeParameters"], resources: ["*"] },
          ...otherRegionsDenied(region),
        ],
      }),
      deployer: new PermissionsBoundary(this, "deployer-boundary", {
        policyName: names.deployerBoundaryName,
        description: `vibe-digest ${stage.name}: the most a pipeline role may do; never the bootstrap's own identities, roles only with the workload boundary`,
        statements: [...deployerAllows(), ...deployerDenies()],
      }),
    };

    // GitHub Actions' workload identity, and the two pipeline roles it may assume.
    const oidc = new IamOpenidConnectProvider(this, "github-oidc", { url: `https://${GITHUB_OIDC.host}`, clientIdList: [GITHUB_OIDC.audience] });
    const githubTrust = (environments: string[]): PolicyStatement[] => [
      {
        sid: "GitHubActionsEnvironments",
        actions: ["sts:AssumeRoleWithWebIdentity"],
        resources: [],
        principals: [{ type: "Federated", identifiers: [oidc.arn] }],
        conditions: [
          { test: "StringEquals", variable: `${GITHUB_OIDC.host}:aud`, values: [GITHUB_OIDC.audience] },
          { test: "StringEquals", variable: `${GITHUB_OIDC.host}:sub`, values: environments.map((e) => `repo:${stage.pipeline!.repository}:environment:${e}`) },
        ],
      },
    ];
    this.planner = new Role(this, "plan-role", {
      roleName: names.planRoleName,
      description: `vibe-digest ${stage.name}: pull-request plans (read the state, no refresh, no lock); GitHub environment ${names.planEnvironment}`,
      trust: githubTrust([names.planEnvironment]),
      policyName: "read-state",
      permissionsBoundaryArn: this.boundaries.deployer.arn,
    });
    this.stateBucket.grantState(this.planner, statePrefix, { write: false, sid: "ReadState" });

    this.deployer = new Role(this, "deployer-role", {
      roleName: names.deployerRoleName,
      description: `vibe-digest ${stage.name}: plans on merge and applies the reviewed plan; GitHub environments ${names.mainEnvironment} and ${names.applyEnvironment}`,
      trust: githubTrust([names.mainEnvironment, names.applyEnvironment]),
      policyName: "deploy-stage",
      maxSessionDurationSeconds: 7200,
      permissionsBoundaryArn: this.boundaries.deployer.arn,
    });
    this.stateBucket.grantState(this.deployer, statePrefix, { write: true, sid: "ReadWriteState" });
    for (const s of deployerAllows()) this.deployer.addToPrincipalPolicy(s);

    // People (through the account's IAM or Identity Center) assume the operator role; the
    // stage's stack attaches what it may do, its boundary caps that.
    this.operator = new Role(this, "operator-role", {
      roleName: names.operatorRoleName,
      description: `vibe-digest ${stage.name}: operator commands (secrets, ledger, rollback, rollout, rotate, doctor); its policy comes from the stage's stack`,
      trust: [{ sid: "AssumedByAccountPrincipals", actions: ["sts:AssumeRole"], resources: [], principals: [{ type: "AWS", identifiers: [iamArn("root")] }] }],
      maxSessionDurationSeconds: 3600,
      permissionsBoundaryArn: this.boundaries.operator.arn,
      requireGrants: false,
    });

    const out = (id: string, value: string, description: string) => new TerraformOutput(this, id, { value, description });
    out(BOOTSTRAP_OUTPUTS.deployerRoleArn, this.deployer.outputs.roleArn, "Role of the merge plan and the apply (GitHub environments <stage> and <stage>-apply)");
    out(BOOTSTRAP_OUTPUTS.planRoleArn, this.planner.outputs.roleArn, "Role of pull-request plans (GitHub environment <stage>-plan)");
    out(BOOTSTRAP_OUTPUTS.operatorRoleArn, this.operator.outputs.roleArn, "Role operators assume");
    out(BOOTSTRAP_OUTPUTS.stateBucket, this.stateBucket.bucket.bucket, "Terraform state bucket of the stage");
    out(BOOTSTRAP_OUTPUTS.workloadBoundaryArn, this.boundaries.workload.arn, "Boundary every role of the stage's stack carries");

    /** What the deployer may do (its identity policy, and the ceiling of its boundary). */
    function deployerAllows(): PolicyStatement[] {
      const stackRoles = iamArn(`role/vibe-digest-${stage.name}-*`);
      return [
        {
          sid: "ManageStackServices",
          actions: DEPLOYER_SERVICES.map((s) => `${s}:*`),
          resources: ["*"],
        },
        {
          sid: "ManageStackRoles",
          actions: ["iam:*"],
          resources: [stackRoles],
        },
        {
          sid: "ReadStackPolicies",
          actions: ["iam:GetPolicy", "iam:GetPolicyVersion"],
          resources: [iamArn(`policy/vibe-digest-${stage.name}-*`)],
        },
        {
          sid: "EcsServiceLinkedRole",
          actions: ["iam:CreateServiceLinkedRole"],
          resources: [iamArn("role/aws-service-role/ecs.amazonaws.com/*")],
          conditions: [{ test: "StringEquals", variable: "iam:AWSServiceName", values: ["ecs.amazonaws.com"] }],
        },
        ...(stage.hostedZoneId
          ? [
              {
                sid: "SendingDomainRecords",
                actions: ["route53:ChangeResourceRecordSets", "route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ListTagsForResource"],
                resources: [`arn:${partition}:route53:::hostedzone/${stage.hostedZoneId}`],
              },
              { sid: "Route53Changes", actions: ["route53:GetChange"], resources: [`arn:${partition}:route53:::change/*`] },
            ]
          : []),
        {
          sid: "StateObjects",
          actions: ["s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"],
          resources: [`arn:${partition}:s3:::${backend.bucket}`, `arn:${partition}:s3:::${backend.bucket}/${statePrefix}*`],
        },
      ];
    }

    /** What no pipeline role may do, whatever its policy says. */
    function deployerDenies(): PolicyStatement[] {
      const bootstrapIdentities = [
        iamArn(`role/${names.deployerRoleName}`),
        iamArn(`role/${names.planRoleName}`),
        iamArn(`policy/${names.deployerBoundaryName}`),
        iamArn(`policy/${names.operatorBoundaryName}`),
        iamArn(`policy/${names.workloadBoundaryName}`),
        iamArn(`oidc-provider/${GITHUB_OIDC.host}`),
      ];
      return [
        // Its own roles, the boundaries and the OIDC provider belong to the administrator.
        { sid: "DenyBootstrapIdentities", effect: "Deny", actions: ["iam:*"], resources: bootstrapIdentities },
        // The operator role only gets the stages' inline operator policies.
        {
          sid: "DenyOperatorRoleButItsPolicies",
          effect: "Deny",
          actions: [],
          notActions: ["iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:PutRolePolicy"],
          resources: [iamArn(`role/${names.operatorRoleName}`)],
        },
        // Every role it creates carries the workload boundary, which it cannot remove.
        {
          sid: "RolesOnlyWithWorkloadBoundary",
          effect: "Deny",
          actions: ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
          resources: ["*"],
          conditions: [{ test: "StringNotEquals", variable: "iam:PermissionsBoundary", values: [workloadBoundaryArn] }],
        },
        { sid: "DenyBoundaryRemoval", effect: "Deny", actions: ["iam:DeleteRolePermissionsBoundary"], resources: ["*"] },
        // No long-lived credentials.
        {
          sid: "DenyUsersAndKeys",
          effect: "Deny",
          actions: ["iam:AddUserToGroup", "iam:AttachUserPolicy", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:CreateUser", "iam:PutUserPolicy", "iam:UpdateLoginProfile"],
          resources: ["*"],
        },
        // The state key stays usable and reviewable.
        {
          sid: "DenyStateKeyChanges",
          effect: "Deny",
          actions: ["kms:CreateGrant", "kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
          resources: ["*"],
          conditions: [{ test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: [`alias/${names.stateKeyAlias}`] }],
        },
        ...otherRegionsDenied(region),
      ];
    }
  }
}

/**
 * Deny every regional action outside the stage's region (IAM, Route 53, Cost Explorer and
 * STS are global and answer in us-east-1, so they are exempt).
 */
function otherRegionsDenied(region: string): PolicyStatement[] {
  return [
    {
      sid: "DenyOtherRegions",
      effect: "Deny",
      actions: [],
      notActions: ["ce:*", "iam:*", "route53:*", "sts:*"],
      resources: ["*"],
      conditions: [{ test: "StringNotEquals", variable: "aws:RequestedRegion", values: [region] }],
    },
  ];
}
