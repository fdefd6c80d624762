/**
 * Stages as typed data. A stage says where the stack goes (real AWS or the emulator),
 * where its state lives, and every value that differs between stages. Changing a stage's
 * backend, addresses or schedule is a data edit here, not a code change in a construct.
 */
import { DEFAULT_PARAMETER_ROOT, DIGEST_TIME_ZONE } from "../app/src/contract";
import { ALL_EMULATOR_GAPS, type EmulatorGap } from "./emulator-gaps";

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

/** Everything that differs between stages. */
export interface StageConfig {
  readonly name: StageName;
  /** Terraform stack name, also the folder under cdktf.out/stacks. */
  readonly stackName: string;
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
  /** Name of the role pipelines deploy with (may decrypt via SSM: the provider refreshes
   *  SecureStrings with decryption). Must exist before deploy on real AWS. */
  readonly deployerRoleName?: string;
  /** The sending domain (SES domain identity with Easy DKIM and MAIL FROM). */
  readonly domain: string;
  /** Route53 zone of `domain`; when given, DKIM/MAIL FROM/SPF/DMARC records are managed. */
  readonly hostedZoneId?: string;
  /** DMARC policy of the domain. */
  readonly dmarcPolicy: "none" | "quarantine" | "reject";
  /** The verified SES sender (an address in `domain`). */
  readonly fromAddress: string;
  /** Recipients (the to_address parameter is a StringList). */
  readonly toAddresses: readonly string[];
  readonly feeds: readonly FeedConfig[];
  /** Runtime flag: send through SES (else SendGrid). */
  readonly useSes: boolean;
  /** Share of recipients routed to SES, 0..100, sticky per recipient. */
  readonly sesPercent: number;
  /** List-Unsubscribe target (https URL or mailto:). @default - no List-Unsubscribe header */
  readonly unsubscribeUrl?: string;
  /** Where alarms and the cost-anomaly report are mailed. */
  readonly alarmEmail: string;
  readonly network: {
    readonly cidr: string;
    /** NAT route for the SendGrid fallback (see README). */
    readonly allowInternetEgress: boolean;
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

export const DEFAULT_LOCAL_AWS_ENDPOINT = "http://127.0.0.1:5055";
export const DEFAULT_LOCAL_FEED_BASE_URL = "http://127.0.0.1:5056";

/**
 * Provider endpoint keys the stack uses. In an emulator stage every one of them points at
 * the emulator, so no call can leak to real AWS.
 */
export const STACK_SERVICES = [
  "ce", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events", "iam", "kms", "logs", "route53",
  "scheduler", "ses", "sesv2", "sns", "sqs", "ssm", "sts",
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
    [/^aws_route53_/, "route53"],
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
    region: "us-east-1",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "emulator", endpoint: opts.awsEndpoint ?? DEFAULT_LOCAL_AWS_ENDPOINT },
    backend: { kind: "local", ...(opts.stateFile ? { path: opts.stateFile } : {}) },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    // The local run exercises the seed's mode: an IAM user's key pair in SecureStrings.
    credentialsMode: "access-key",
    domain: "vibedigest.example.com",
    dmarcPolicy: "quarantine",
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["reader@example.com"],
    // An https target, so the local run sends both List-Unsubscribe and the RFC 8058
    // one-click List-Unsubscribe-Post header (never fetched: it is only a header value).
    unsubscribeUrl: "https://vibedigest.example.com/unsubscribe",
    feeds: sampleFeeds(opts.feedBaseUrl ?? DEFAULT_LOCAL_FEED_BASE_URL),
    useSes: true,
    sesPercent: 100,
    alarmEmail: "alarms@vibedigest.example.com",
    network: { cidr: "10.42.0.0/16", allowInternetEgress: false },
    schedule: DAILY_7AM,
    // What the container e2e test tags its locally built image with (never pushed).
    imageTag: "local",
    omit: ALL_EMULATOR_GAPS,
  };
}

/**
 * `dev`: real AWS, its own state, everything on SES (no SendGrid, so no internet egress):
 * the target state that prod migrates towards.
 */
export function devStage(): StageConfig {
  return {
    name: "dev",
    stackName: "vibe-digest-dev",
    region: "us-east-1",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "aws" },
    backend: { kind: "s3", bucket: "vibe-digest-terraform-state-dev", key: "vibe-digest/dev/terraform.tfstate", region: "us-east-1" },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    credentialsMode: "task-role",
    deployerRoleName: "vibe-digest-deployer",
    domain: "dev.vibedigest.example.com",
    hostedZoneId: "Z0DEVVIBEDIGEST0EXAMPLE",
    dmarcPolicy: "none",
    fromAddress: "digest@dev.vibedigest.example.com",
    toAddresses: ["dev-readers@vibedigest.example.com"],
    unsubscribeUrl: "mailto:unsubscribe@dev.vibedigest.example.com",
    feeds: prodFeeds(),
    useSes: true,
    sesPercent: 100,
    alarmEmail: "alarms@vibedigest.example.com",
    network: { cidr: "10.43.0.0/16", allowInternetEgress: false },
    schedule: DAILY_7AM,
    imageTag: "dev",
    omit: [],
  };
}

/**
 * `prod`: real AWS. The addresses, feeds, zone and state bucket below are this project's
 * stage data; edit them here (a reviewed change), not in the constructs.
 */
export function prodStage(): StageConfig {
  return {
    name: "prod",
    stackName: "vibe-digest-prod",
    region: "us-east-1",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    target: { kind: "aws" },
    backend: {
      kind: "s3",
      bucket: "vibe-digest-terraform-state-prod",
      key: "vibe-digest/prod/terraform.tfstate",
      region: "us-east-1",
      useLockfile: true,
      kmsKeyId: "alias/vibe-digest-terraform-state",
    },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    parameterKey: "cmk",
    credentialsMode: "task-role",
    deployerRoleName: "vibe-digest-deployer",
    domain: "vibedigest.example.com",
    hostedZoneId: "Z0PRODVIBEDIGEST0EXAMPLE",
    dmarcPolicy: "quarantine",
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["readers@vibedigest.example.com"],
    unsubscribeUrl: "mailto:unsubscribe@vibedigest.example.com",
    feeds: prodFeeds(),
    useSes: true,
    // The seed's gradual migration: start with a share of recipients on SES.
    sesPercent: 10,
    alarmEmail: "alarms@vibedigest.example.com",
    // SendGrid stays reachable during the migration; set false once sesPercent is 100.
    network: { cidr: "10.44.0.0/16", allowInternetEgress: true },
    schedule: DAILY_7AM,
    imageTag: "2026.11.28",
    omit: [],
  };
}

function prodFeeds(): FeedConfig[] {
  return [
    { url: "https://vibedigest.example.com/feeds/vibe-blog.rss", name: "Vibe Coding Weekly" },
    { url: "https://vibedigest.example.com/feeds/agents-journal.atom", name: "Agents Journal" },
    { url: "https://vibedigest.example.com/feeds/release-notes.json", name: "Editor Release Notes" },
  ];
}
