/**
 * Stages as typed data. A stage says where the stack goes (real AWS or the emulator),
 * where its state lives, and the non-secret values of its parameters. Changing a
 * stage's backend or addresses is a data edit here, not a code change in a construct.
 */
import { DEFAULT_PARAMETER_ROOT } from "../app/src/contract";

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
      /** KMS key for the state object. @default - the bucket's default encryption */
      readonly kmsKeyId?: string;
    };

/** Everything that differs between stages. */
export interface StageConfig {
  readonly name: StageName;
  /** Terraform stack name, also the folder under cdktf.out/stacks. */
  readonly stackName: string;
  readonly region: string;
  readonly target: ProviderTarget;
  readonly backend: BackendConfig;
  /** Root of the Parameter Store hierarchy. @default "/vibecoding" */
  readonly parameterRoot: string;
  /** The verified SES sender. */
  readonly fromAddress: string;
  /** Recipients (the to_address parameter is a StringList). */
  readonly toAddresses: readonly string[];
  readonly feeds: readonly FeedConfig[];
  /** Runtime flag: send through SES (else SendGrid). */
  readonly useSes: boolean;
  /** Share of recipients routed to SES, 0..100, sticky per recipient. */
  readonly sesPercent: number;
}

export const DEFAULT_LOCAL_AWS_ENDPOINT = "http://127.0.0.1:5055";
export const DEFAULT_LOCAL_FEED_BASE_URL = "http://127.0.0.1:5056";

/**
 * Provider endpoint keys the stack uses. In an emulator stage every one of them points at
 * the emulator, so no call can leak to real AWS.
 */
export const STACK_SERVICES = ["iam", "kms", "ses", "ssm", "sts"] as const;
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
    target: { kind: "emulator", endpoint: opts.awsEndpoint ?? DEFAULT_LOCAL_AWS_ENDPOINT },
    backend: { kind: "local", ...(opts.stateFile ? { path: opts.stateFile } : {}) },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["reader@example.com"],
    feeds: sampleFeeds(opts.feedBaseUrl ?? DEFAULT_LOCAL_FEED_BASE_URL),
    useSes: true,
    sesPercent: 100,
  };
}

/**
 * `prod`: real AWS. The addresses, feeds and state bucket below are this project's stage
 * data; edit them here (a reviewed change), not in the constructs.
 */
export function prodStage(): StageConfig {
  return {
    name: "prod",
    stackName: "vibe-digest-prod",
    region: "us-east-1",
    target: { kind: "aws" },
    backend: { kind: "local" },
    parameterRoot: DEFAULT_PARAMETER_ROOT,
    fromAddress: "digest@vibedigest.example.com",
    toAddresses: ["readers@vibedigest.example.com"],
    feeds: [
      { url: "https://vibedigest.example.com/feeds/vibe-blog.rss", name: "Vibe Coding Weekly" },
      { url: "https://vibedigest.example.com/feeds/agents-journal.atom", name: "Agents Journal" },
      { url: "https://vibedigest.example.com/feeds/release-notes.json", name: "Editor Release Notes" },
    ],
    useSes: true,
    // The seed's gradual migration: start with a share of recipients on SES.
    sesPercent: 10,
  };
}
