/**
 * Stages as typed data. A stage says where the stack goes (real AWS or the emulator),
 * where its state lives, and every value that differs between stages. Changing a stage's
 * backend, addresses or schedule is a data edit here, not a code change in a construct.
 */
import { DEFAULT_PARAMETER_ROOT, DIGEST_TIME_ZONE } from "../app/src/contract";
import { ALL_EMULATOR_GAPS, type EmulatorGap } from "./emulator-gaps";
import { partitionOf } from "./policy";
import ORIGINAL_FEEDS from "./stage-data/original-feeds.json";

export type StageName = "local" | "dev" | "prod";

/** One feed of the digest (becomes an element of the `digest/feeds` JSON parameter). */
export interface FeedConfig {
  readonly url: string;
  readonly name: string;
}

/**
 * Where the provider talks to. `emulator` points every service endpoint the stack uses at
 * one loopback URL (moto) with static test keys and capped retries; `aws` is real AWS with
 * the default credential chain and nothing emulator-specific.
 */
export type ProviderTarget = { readonly kind: "aws" } | { readonly kind: "emulator"; readonly endpoint: string };

/** Where Terraform keeps the stage's state. */
export type BackendConfig =
  | {
      readonly kind: "local";
      /** State file; relative paths are relative to the stack's folder in cdktf.out.
       *  @default "terraform.tfstate" */
      readonly path?: string;
    }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      readonly key: string;
      readonly region: string;
      /** S3-native state locking (Terraform >= 1.10). @default true */
      readonly useLockfile?: boolean;
      /** KMS key (ARN or alias) for the state object. @default - the bucket's default encryption */
      readonly kmsKeyId?: string;
    };

/** How the sender gets AWS credentials (docs/design.md, "Decisions"). */
export type CredentialsMode =
  /** The Fargate task role only; no access-key parameters are declared. */
  | "task-role"
  /** The seed's mode: an access key pair in SecureStrings (put by the operator). */
  | "access-key";

/** A host the stage's feeds may be fetched from beyond the feed URLs' own hosts, and why. */
export interface ExtraFeedHost {
  /** Host pattern: `example.com` exactly or `*.example.com` for any subdomain (no IP literal). */
  readonly host: string;
  /** Why the stage needs it, e.g. the feed it redirects from. */
  readonly reason: string;
}

/** Everything that differs between stages. */
export interface StageConfig {
  readonly name: StageName;
  /** Terraform stack name, also the folder under cdktf.out/stacks. */
  readonly stackName: string;
  /**
   * The AWS account the stage deploys to (12 digits; `local`: moto's 123456789012). ARNs,
   * trust conditions and key policies are built from it (and `region`), never from a
   * resource's ARN, so a replaced key leaves every policy readable in a plan; a real stage's
   * provider refuses any other account (`allowed_account_ids`).
   */
  readonly account: string;
  readonly region: string;
  /** Two AZs of the region for the private subnets (data, so plan needs no AWS call). */
  readonly availabilityZones: readonly [string, string];
  readonly target: ProviderTarget;
  readonly backend: BackendConfig;
  /** Root of the Parameter Store hierarchy. */
  readonly parameterRoot: string;
  /** "cmk": our key (default, reviewable policy); "aws-managed": the seed's aws/ssm key. */
  readonly parameterKey: "cmk" | "aws-managed";
  readonly credentialsMode: CredentialsMode;
  /**
   * The pipeline side of a real stage: its bootstrap stack (state bucket, deployer, plan and
   * operator roles, permissions boundaries; see {@link pipelineNames}) and the GitHub
   * repository whose environments may assume the pipeline roles. Absent for `local`.
   */
  readonly pipeline?: PipelineConfig;
  /**
   * Role ARNs of the stage's operators (secrets, ledger, rollback, rollout, doctor). Each
   * gets the stage's operator policy (an inline policy this stack attaches to the role)
   * and is named in the key policies. They must be roles of `account`.
   * @default - real stages: the operator role of the stage's bootstrap stack; local: none
   */
  readonly operatorRoleArns: readonly string[];
  /** The sending domain (SES domain identity with Easy DKIM and MAIL FROM). */
  readonly domain: string;
  /** Route53 zone of `domain`; when given, DKIM/MAIL FROM/SPF/DMARC records are managed. */
  readonly hostedZoneId?: string;
  /** DMARC policy of the domain. */
  readonly dmarcPolicy: "none" | "quarantine" | "reject";
  /** The verified SES sender (an address in `domain`). */
  readonly fromAddress: string;
  /** Recipients (the to_address parameter is a StringList of at most 8 KB: see parameter-store.ts). */
  readonly toAddresses: readonly string[];
  /**
   * The digest's feeds: the one source of the `digest/feeds` parameter, the `digest/feed_hosts`
   * allow-list the sender enforces and the DNS firewall's feed domain list (see
   * feed-allow-list.ts). A real stage's feeds are https URLs on DNS names.
   */
  readonly feeds: readonly FeedConfig[];
  /** Hosts the feeds redirect to (each with its reason); they join both allow-lists. @default [] */
  readonly extraFeedHosts: readonly ExtraFeedHost[];
  /** Runtime flag: send through SES (else SendGrid). */
  readonly useSes: boolean;
  /** Share of recipients routed to SES, 0..100, sticky per recipient. */
  readonly sesPercent: number;
  /**
   * SendGrid is part of the stage (the migration share, or the fallback when SES rejects):
   * its API host joins the DNS allow-list. Must be true while `useSes` is false or
   * `sesPercent` is below 100 (synth refuses otherwise); set it false once the SendGrid
   * key is removed (docs/operations.md, the migration).
   */
  readonly useSendGrid: boolean;
  /** List-Unsubscribe target (https URL or mailto:). @default - no List-Unsubscribe header */
  readonly unsubscribeUrl?: string;
  /** Where alarms and the cost-anomaly report are mailed. */
  readonly alarmEmail: string;
  readonly network: {
    readonly cidr: string;
    /**
     * AZs that get the interface endpoints (and the NAT gateway): 1 puts them in the first
     * AZ only (half the endpoint bill; the task still runs in either AZ and crosses to the
     * first; losing that AZ fails the run until it is back), 2 in both.
     */
    readonly endpointAzs: 1 | 2;
  };
  readonly schedule: {
    /** EventBridge Scheduler expression. */
    readonly expression: string;
    readonly timezone: string;
    /** Same-day re-runs that retry `failed` recipients (the ledger skips the rest). */
    readonly catchUp: readonly string[];
  };
  /**
   * Image tag of the sender in the stage's ECR repository (tags are immutable). For a real
   * stage it is the tag `npm run image:publish` printed: the git sha of the last commit
   * that changed what goes into the image (app/, the lock file, the bundler, the
   * Dockerfile), so publishing an unchanged sender yields the same tag, this value stays as
   * it is, and a deploy leaves the task definition alone. Changing it is a reviewed edit;
   * the next deploy then registers a new task definition revision, and only then.
   */
  readonly imageTag: string;
  /** Features left out because the target cannot apply them (see emulator-gaps.ts). */
  readonly omit: readonly EmulatorGap[];
}

/** Where a real stage's pipeline lives. */
export interface PipelineConfig {
  /** GitHub repository ("owner/name") whose workflow environments may assume the pipeline roles. */
  readonly repository: string;
  /**
   * Where the bootstrap stack keeps its own state: "local" (a file beside its cdk.tf.json,
   * for the first apply, which creates the bucket) or "bucket" (the state bucket it created,
   * after the migration step in docs/first-deploy.md).
   */
  readonly bootstrapState: "local" | "bucket";
}

/**
 * Names of a real stage's pipeline resources, created by its bootstrap stack and used by the
 * stage's stack (the deployer decrypts via SSM, the operator gets its policy, the stage's
 * roles carry the workload boundary) and by the example pipeline. One function, so the two
 * stacks cannot disagree.
 */
export function pipelineNames(stage: Pick<StageConfig, "name" | "account" | "region">) {
  const p = `vibe-digest-${stage.name}`;
  const role = (n: string) => `arn:${partitionOf(stage.region)}:iam::${stage.account}:role/${n}`;
  const policy = (n: string) => `arn:${partitionOf(stage.region)}:iam::${stage.account}:policy/${n}`;
  return {
    bootstrapStackName: `vibe-digest-bootstrap-${stage.name}`,
    deployerRoleName: `${p}-deployer`,
    planRoleName: `${p}-plan`,
    operatorRoleName: `${p}-operator`,
    deployerRoleArn: role(`${p}-deployer`),
    planRoleArn: role(`${p}-plan`),
    operatorRoleArn: role(`${p}-operator`),
    deployerBoundaryName: `${p}-deployer-boundary`,
    operatorBoundaryName: `${p}-operator-boundary`,
    workloadBoundaryName: `${p}-workload-boundary`,
    workloadBoundaryArn: policy(`${p}-workload-boundary`),
    stateKeyAlias: `${p}-terraform-state`,
    /** The GitHub environment of pull-request plans (the read-only plan role). */
    planEnvironment: `${stage.name}-plan`,
    /** The GitHub environment of the plan made on merge (the deployer). */
    mainEnvironment: stage.name,
    /** The GitHub environment of the apply, behind required reviewers (the deployer). */
    applyEnvironment: `${stage.name}-apply`,
  };
}

/** The account moto answers for (its default); the local stage's `account`. */
export const MOTO_ACCOUNT = "123456789012";

export const DEFAULT_LOCAL_AWS_ENDPOINT = "http://127.0.0.1:5055";
export const DEFAULT_LOCAL_FEED_BASE_URL = "http://127.0.0.1:5056";

/**
 * Provider endpoint keys the stack uses. In an emulator stage every one of them points at
 * the emulator, so no call can leak to real AWS.
 */
export const STACK_SERVICES = [
  "ce", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events", "iam", "kms", "logs", "route53",
  "route53resolver", "s3", "scheduler", "ses", "sesv2", "sns", "sqs", "ssm", "sts",
] as const;

/**
 * The provider endpoint each resource type talks to. A test checks that every type the
 * stack declares is listed and its service is in STACK_SERVICES, so a new construct cannot
 * send the local stage to real AWS.
 */
export function serviceOfResourceType(type: string): StackService | undefined {
  const rules: [RegExp, StackService][] = [
    [/^aws_ce_/, "ce"],
    [/^aws_cloudwatch_metric_alarm$/, "cloudwatch"],
    [/^aws_cloudwatch_log_/, "logs"],
    [/^aws_cloudwatch_event_/, "events"],
    [/^aws_dynamodb_/, "dynamodb"],
    [/^aws_(vpc|vpc_endpoint|subnet|route|route_table|route_table_association|security_group|vpc_security_group_(ingress|egress)_rule|default_security_group|flow_log|eip|nat_gateway|internet_gateway)$/, "ec2"],
    [/^aws_ecr_/, "ecr"],
    [/^aws_ecs_/, "ecs"],
    [/^aws_iam_/, "iam"],
    [/^aws_kms_/, "kms"],
    [/^aws_route53_resolver_/, "route53resolver"],
    [/^aws_route53_/, "route53"],
    [/^aws_s3_/, "s3"],
    [/^aws_scheduler_/, "scheduler"],
    [/^aws_ses_/, "ses"],
    [/^aws_sesv2_/, "sesv2"],
    [/^aws_sns_/, "sns"],
    [/^aws_sqs_/, "sqs"],
    [/^aws_ssm_/, "ssm"],
  ];
  return rules.find(([re]) => re.test(type))?.[1];
}
export type StackService = (typeof STACK_SERVICES)[number];

/** The sample feeds in scripts/sample-feeds, served by the local feed server. */
export function sampleFeeds(feedBaseUrl: string): FeedConfig[] {
  const base = feedBaseUrl.replace(/\/+$/, "");
  return [
    { url: `${base}/vibe-blog.rss`, name: "Vibe Coding Weekly" },
    { url: `${base}/agents-journal.atom`, name: "Agents Journal" },
    { url: `${base}/release-notes.json`, name: "Editor Release Notes" },
  ];
}

/** One entry of modules/stage-data/original-feeds.json (the SendGrid-era app's feed list). */
export interface OriginalFeed {
  readonly name: string;
  readonly url: string;
  /** Why the entry is doubtful; such entries stay out of a stage unless kept below. */
  readonly note?: string;
}

/**
 * Entries of the original list that carry a note but are kept, with why. Every other noted
 * entry is left out (docs/operations.md lists them with their notes).
 */
export const KEPT_DESPITE_NOTE: Readonly<Record<string, string>> = {
  "Google AI Blog": "its note asks for the host it redirects to on the allow-list, not for leaving it out (see ORIGINAL_FEED_REDIRECTS)",
};

/** Where feeds of the original list redirect, declared so the redirect is allowed (and why). */
export const ORIGINAL_FEED_REDIRECTS: readonly ExtraFeedHost[] = [
  { host: "blog.research.google", reason: "Google AI Blog: ai.googleblog.com redirects to the Google Research blog here" },
  { host: "research.google", reason: "Google AI Blog: blog.research.google in turn redirects to research.google/blog" },
  { host: "www.cursor.com", reason: "Cursor Blog: www.cursor.sh redirects to the cursor.com site" },
  { host: "cursor.com", reason: "Cursor Blog: the cursor.com site answers on its apex name too" },
];

/** The original feed list, and which of its entries a stage keeps and leaves out. */
export function originalFeeds(): { readonly kept: FeedConfig[]; readonly leftOut: OriginalFeed[] } {
  const all = (ORIGINAL_FEEDS as { feeds: OriginalFeed[] }).feeds;
  const keep = (f: OriginalFeed) => f.note === undefined || f.name in KEPT_DESPITE_NOTE;
  return {
    kept: all.filter(keep).map((f) => ({ url: f.url, name: f.name })),
    leftOut: all.filter((f) => !keep(f)),
  };
}

// 07:00 New York, and a catch-up at 09:00 that retries recipients whose send failed.
const DAILY_7AM = { expression: "cron(0 7 * * ? *)", timezone: DIGEST_TIME_ZONE, catchUp: ["cron(0 9 * * ? *)"] };

export interface LocalStageOptions {
  /** The moto server. @default "http://127.0.0.1:5055" */
  readonly awsEndpoint?: string;
  /** Where the sample feeds are served. @default "http://127.0.0.1:5056" */
  readonly feedBaseUrl?: string;
  /** Local state file. @default "terraform.tfstate" in cdktf.out/stacks/vibe-digest-local */
  readonly stateFile?: string;
}

/** `local`: everything on the moto emulator, sample feeds on loopback. */
export function localStage(opts: LocalStageOptions = {}): StageConfig {
  return {
    name: "local",
    stackName: "vibe-digest-local",
    account: MOTO_ACCOUNT,
    region: "us-east-1",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "emulator", endpoint: opts.awsEndpoint ?? DEFAULT_LOCAL_AWS_ENDPOINT },
    backend: { kind: "local", ...(opts.stateFile ? { path: opts.stateFile } : {}) },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    // The local run exercises the seed's mode: an IAM user's key pair in SecureStrings.
    credentialsMode: "access-key",
    // moto evaluates no policy: the local run acts as moto's default identity.
    operatorRoleArns: [],
    domain: "vibedigest.example.com",
    dmarcPolicy: "quarantine",
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["reader@example.com"],
    // An https target, so the local run sends both List-Unsubscribe and the RFC 8058
    // one-click List-Unsubscribe-Post header (never fetched: it is only a header value).
    unsubscribeUrl: "https://vibedigest.example.com/unsubscribe",
    // On the loopback feed server: digest/feed_hosts is its IP literal, and no internet egress.
    feeds: sampleFeeds(opts.feedBaseUrl ?? DEFAULT_LOCAL_FEED_BASE_URL),
    extraFeedHosts: [],
    useSes: true,
    sesPercent: 100,
    // The local run serves a SendGrid emulator and puts a demo key: the fallback is exercised.
    useSendGrid: true,
    alarmEmail: "alarms@vibedigest.example.com",
    network: { cidr: "10.42.0.0/16", endpointAzs: 2 },
    schedule: DAILY_7AM,
    // What the container e2e test tags its locally built image with (never pushed).
    imageTag: "local",
    omit: ALL_EMULATOR_GAPS,
  };
}

/**
 * `dev`: real AWS, its own account and state, everything on SES (no SendGrid): the target
 * state that prod migrates towards. The account, domain, zone and repository below are this
 * project's stage data; set them to yours before the first deploy (docs/first-deploy.md).
 */
export function devStage(): StageConfig {
  const base = { name: "dev" as const, account: "111111111111", region: "us-east-1" };
  const names = pipelineNames(base);
  return {
    ...base,
    stackName: "vibe-digest-dev",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "aws" },
    backend: {
      kind: "s3",
      bucket: "vibe-digest-terraform-state-dev",
      key: "vibe-digest/dev/terraform.tfstate",
      region: "us-east-1",
      useLockfile: true,
      kmsKeyId: `alias/${names.stateKeyAlias}`,
    },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    credentialsMode: "task-role",
    pipeline: { repository: "example-org/vibe-digest", bootstrapState: "local" },
    operatorRoleArns: [names.operatorRoleArn],
    domain: "dev.vibedigest.example.com",
    hostedZoneId: "Z0DEVVIBEDIGEST0EXAMPLE",
    dmarcPolicy: "none",
    fromAddress: "digest@dev.vibedigest.example.com",
    toAddresses: ["dev-readers@vibedigest.example.com"],
    unsubscribeUrl: "mailto:unsubscribe@dev.vibedigest.example.com",
    feeds: originalFeeds().kept,
    extraFeedHosts: ORIGINAL_FEED_REDIRECTS,
    useSes: true,
    sesPercent: 100,
    useSendGrid: false,
    alarmEmail: "alarms@vibedigest.example.com",
    // One AZ for the endpoints and the NAT gateway: a daily batch job with a catch-up run
    // (docs/operations.md, "Network and egress", weighs it).
    network: { cidr: "10.43.0.0/16", endpointAzs: 1 },
    schedule: DAILY_7AM,
    imageTag: "dev",
    omit: [],
  };
}

/**
 * `prod`: real AWS, its own account. The addresses, feeds, zone, account, repository and
 * state bucket below are this project's stage data; edit them here (a reviewed change),
 * not in the constructs.
 */
export function prodStage(): StageConfig {
  const base = { name: "prod" as const, account: "222222222222", region: "us-east-1" };
  const names = pipelineNames(base);
  return {
    ...base,
    stackName: "vibe-digest-prod",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "aws" },
    backend: {
      kind: "s3",
      bucket: "vibe-digest-terraform-state-prod",
      key: "vibe-digest/prod/terraform.tfstate",
      region: "us-east-1",
      useLockfile: true,
      kmsKeyId: `alias/${names.stateKeyAlias}`,
    },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    credentialsMode: "task-role",
    pipeline: { repository: "example-org/vibe-digest", bootstrapState: "local" },
    operatorRoleArns: [names.operatorRoleArn],
    domain: "vibedigest.example.com",
    hostedZoneId: "Z0PRODVIBEDIGEST0EXAMPLE",
    dmarcPolicy: "quarantine",
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["readers@vibedigest.example.com"],
    unsubscribeUrl: "mailto:unsubscribe@vibedigest.example.com",
    feeds: originalFeeds().kept,
    extraFeedHosts: ORIGINAL_FEED_REDIRECTS,
    useSes: true,
    // The seed's gradual migration: start with a share of recipients on SES.
    sesPercent: 10,
    // SendGrid carries the other 90% (and the fallback) until the migration completes.
    useSendGrid: true,
    alarmEmail: "alarms@vibedigest.example.com",
    network: { cidr: "10.44.0.0/16", endpointAzs: 1 },
    schedule: DAILY_7AM,
    imageTag: "2026.11.28",
    omit: [],
  };
}
