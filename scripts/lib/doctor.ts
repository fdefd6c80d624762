/**
 * The doctor's checks: what a live account must have for a stage's digest to go out, each
 * with what to do when it does not. Before a first deploy most fail ("deploy first"); after
 * it they say what is left (verify the domain, leave the SES sandbox, put the secrets,
 * confirm the alarm subscription, publish the image); later they say how the last run went.
 *
 * Clients come in through the constructor. Every check answers pass, fail, warn (works, but
 * look) or cannot-check: the stage leaves the resource out on the emulator (emulator-gaps.ts),
 * or the emulator does not implement the call. On real AWS a call that fails is a failed
 * check naming the AWS error code (never its message).
 */
import { GetAccountCommand, GetEmailIdentityCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import { GetParametersCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { ListSubscriptionsByTopicCommand, type SNSClient } from "@aws-sdk/client-sns";
import { DescribeImagesCommand, type ECRClient } from "@aws-sdk/client-ecr";
import { GetScheduleCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PARAMETERS, parameterName } from "../../app/src/contract";
import { DeliveryLedger } from "../../app/src/ledger";
import { digestDate } from "../../app/src/render";
import { isUnsetValue } from "../../app/src/validation";
import { stackResourceNames } from "../../modules/digest-stack";
import { secretKeysFor, type SecretParameterKey } from "../../modules/parameter-store";
import { partitionOf } from "../../modules/policy";
import type { StageConfig } from "../../modules/stages";

export type CheckStatus = "pass" | "fail" | "warn" | "cannot-check";

export interface CheckResult {
  /** Stable id, e.g. "ses-dkim". */
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found (names and states, never a secret value). */
  readonly detail: string;
  /** What to do, when it is not a pass. */
  readonly fix?: string;
}

export interface DoctorClients {
  readonly sesv2: SESv2Client;
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly ecr: ECRClient;
  readonly scheduler: SchedulerClient;
  readonly dynamodb: DynamoDBClient;
}

export interface DoctorOptions {
  /** The clock (digest dates are New York days). @default Date.now */
  readonly now?: () => Date;
}

interface AwsErrorLike {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const NOT_FOUND = /NotFound|ResourceNotFound|NoSuch/;

/** The doctor of one stage. */
export class Doctor {
  private readonly names: ReturnType<typeof stackResourceNames>;
  private readonly now: () => Date;

  constructor(
    private readonly stage: StageConfig,
    private readonly clients: DoctorClients,
    opts: DoctorOptions = {},
  ) {
    this.names = stackResourceNames(stage);
    this.now = opts.now ?? (() => new Date());
  }

  /** Every check, in the order a first deploy meets them. */
  async run(): Promise<CheckResult[]> {
    const checks: (() => Promise<CheckResult | CheckResult[]>)[] = [
      () => this.senderIdentity(),
      () => this.dkim(),
      () => this.productionAccess(),
      () => this.secrets(),
      () => this.alarmSubscription(),
      () => this.image(),
      () => this.schedules(),
      () => this.lastRun(),
    ];
    const out: CheckResult[] = [];
    for (const c of checks) out.push(...[await c()].flat());
    return out;
  }

  private get emulator(): boolean {
    return this.stage.target.kind === "emulator";
  }

  /**
   * The result when an AWS call failed. Not found: fail (deploy first). On the emulator, an
   * answer that is not an AWS error (a 404 or 500 page the SDK cannot parse, NotImplemented):
   * cannot-check. Anything else: fail, naming the AWS error code (never its message).
   */
  private failed(id: string, title: string, err: unknown, what: string, fix: string): CheckResult {
    const e = (err ?? {}) as AwsErrorLike;
    const code = e.Code ?? e.name ?? "Error";
    const request = e.$metadata?.requestId ? `, request ${e.$metadata.requestId}` : "";
    if (NOT_FOUND.test(code)) return { id, title, status: "fail", detail: `${what}: not found (${code})`, fix };
    if (this.emulator && (/NotImplemented|InternalFailure|SyntaxError|Deserializ|Unknown/.test(code) || (e.$metadata?.httpStatusCode ?? 0) >= 500 || e.$metadata?.httpStatusCode === 404)) {
      return { id, title, status: "cannot-check", detail: `cannot check here: the emulator does not implement ${what}`, fix: "confirm it on the first real deploy (docs/first-deploy.md)" };
    }
    if (/AccessDenied|UnauthorizedOperation/.test(code)) {
      return { id, title, status: "fail", detail: `access denied to ${what} (${code}${request})`, fix: "run as the stage's operator role (docs/operations.md, Who may do what)" };
    }
    return { id, title, status: "fail", detail: `could not check ${what}: AWS answered ${code}${request}`, fix: "run the doctor again; if it persists, check the service's health in the account" };
  }

  async senderIdentity(): Promise<CheckResult> {
    const id = "ses-identity";
    const title = "SES sender identity verified";
    const identity = this.stage.omit.includes("sesDomainIdentity") ? this.stage.fromAddress : this.stage.domain;
    try {
      const r = await this.clients.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
      // Real SES sets both once verified; moto answers VerificationStatus only.
      return r.VerifiedForSendingStatus === true || r.VerificationStatus === "SUCCESS"
        ? { id, title, status: "pass", detail: `${identity} is verified for sending` }
        : { id, title, status: "fail", detail: `${identity} is not verified for sending yet`, fix: "publish the DKIM records (the stack does when the stage has hostedZoneId) and wait for SES to verify the domain" };
    } catch (err) {
      return this.failed(id, title, err, `the SES identity ${identity}`, `deploy the stage (npm run deploy:${this.stage.name})`);
    }
  }

  async dkim(): Promise<CheckResult> {
    const id = "ses-dkim";
    const title = "DKIM signing successful";
    if (this.stage.omit.includes("sesDomainIdentity")) {
      return { id, title, status: "cannot-check", detail: "cannot check here: the stage has no domain identity on the emulator (emulator-gaps.ts: sesDomainIdentity)", fix: "confirm it on the first real deploy (docs/first-deploy.md)" };
    }
    try {
      const r = await this.clients.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: this.stage.domain }));
      const status = r.DkimAttributes?.Status ?? "NOT_STARTED";
      if (status === "SUCCESS" && r.DkimAttributes?.SigningEnabled !== false) return { id, title, status: "pass", detail: `DKIM of ${this.stage.domain} is ${status}` };
      return {
        id,
        title,
        status: "fail",
        detail: `DKIM of ${this.stage.domain} is ${status}`,
        fix: this.stage.hostedZoneId
          ? `the stack manages the three DKIM CNAMEs in zone ${this.stage.hostedZoneId}: check the zone is the domain's delegated one, then wait (up to 72 h)`
          : "publish the three DKIM CNAMEs SES lists for the domain, then wait (up to 72 h)",
      };
    } catch (err) {
      return this.failed(id, title, err, `the SES identity ${this.stage.domain}`, `deploy the stage (npm run deploy:${this.stage.name})`);
    }
  }

  async productionAccess(): Promise<CheckResult> {
    const id = "ses-production-access";
    const title = "SES production access and quota";
    try {
      const r = await this.clients.sesv2.send(new GetAccountCommand({}));
      const needed = this.stage.toAddresses.length * (1 + this.stage.schedule.catchUp.length);
      const quota = r.SendQuota?.Max24HourSend ?? 0;
      const problems = [
        ...(r.ProductionAccessEnabled ? [] : ["the account is in the SES sandbox (it can send only to verified addresses)"]),
        ...(r.SendingEnabled === false ? ["sending is disabled for the account"] : []),
        ...(r.EnforcementStatus && r.EnforcementStatus !== "HEALTHY" ? [`enforcement status is ${r.EnforcementStatus}`] : []),
        ...(quota !== -1 && quota < needed ? [`the 24-hour quota (${quota}) is below ${needed} (recipients x daily runs)`] : []),
      ];
      return problems.length
        ? { id, title, status: "fail", detail: problems.join("; "), fix: "request production access (SES console, Account dashboard) with the expected volume; a quota increase goes through Service Quotas" }
        : { id, title, status: "pass", detail: `production access, quota ${quota === -1 ? "unlimited" : quota} per 24 h, max ${r.SendQuota?.MaxSendRate ?? "?"}/s` };
    } catch (err) {
      return this.failed(id, title, err, "SES GetAccount", "check the region (AWS_REGION) is the stage's");
    }
  }

  /** Which SecureStrings a stage must have set (a failure), and which it may leave unset (a warning). */
  private secretNeeds(): { key: SecretParameterKey; required: boolean; why: string }[] {
    const declared = secretKeysFor({ staticCredentials: this.stage.credentialsMode === "access-key", unsubscribeUrl: this.stage.unsubscribeUrl });
    return declared.map((key) => {
      if (key === "sendgridApiKey") return { key, required: this.stage.useSendGrid, why: this.stage.useSendGrid ? "the stage sends through SendGrid (migration or fallback)" : "not needed: the stage does not use SendGrid" };
      if (key === "awsAccessKeyId" || key === "awsSecretAccessKey") return { key, required: false, why: "unset: the sender uses the default credential chain (access-key mode)" };
      return { key, required: false, why: "unset: List-Unsubscribe URLs go out unsigned" };
    });
  }

  async secrets(): Promise<CheckResult[]> {
    const needs = this.secretNeeds();
    const names = needs.map((n) => parameterName(this.stage.parameterRoot, n.key));
    let found: Map<string, string | undefined>;
    try {
      const r = await this.clients.ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
      // Only whether a value is set leaves this function, never the value.
      found = new Map((r.Parameters ?? []).map((p) => [p.Name!, isUnsetValue(p.Value) ? undefined : "set"]));
    } catch (err) {
      return [this.failed("secrets", "SecureStrings set", err, `the parameters under ${this.stage.parameterRoot}`, `deploy the stage (npm run deploy:${this.stage.name})`)];
    }
    return needs.map((n, i) => {
      const name = names[i]!;
      const path = PARAMETERS[n.key].path;
      const id = `secret:${path}`;
      const title = `SecureString ${path} set`;
      if (!found.has(name)) return { id, title, status: "fail", detail: `${name} does not exist`, fix: `deploy the stage (npm run deploy:${this.stage.name})` };
      if (found.get(name) === "set") return { id, title, status: "pass", detail: `${name} holds a value` };
      return n.required
        ? { id, title, status: "fail", detail: `${name} holds the placeholder: ${n.why}`, fix: `printf %s "$VALUE" | npm run secrets -- put ${path}` }
        : { id, title, status: "warn", detail: `${name} holds the placeholder (${n.why})`, fix: `printf %s "$VALUE" | npm run secrets -- put ${path} (optional)` };
    });
  }

  async alarmSubscription(): Promise<CheckResult> {
    const id = "alarm-subscription";
    const title = "alarm topic has a confirmed subscription";
    const topic = `arn:${partitionOf(this.stage.region)}:sns:${this.stage.region}:${this.stage.account}:${this.names.alarmTopic}`;
    try {
      const r = await this.clients.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic }));
      const subs = r.Subscriptions ?? [];
      const confirmed = subs.filter((s) => s.SubscriptionArn && s.SubscriptionArn.startsWith("arn:"));
      if (confirmed.length) return { id, title, status: "pass", detail: `${confirmed.length} confirmed (${confirmed.map((s) => `${s.Protocol}:${s.Endpoint}`).join(", ")})` };
      return subs.length
        ? { id, title, status: "fail", detail: `${subs.length} subscription(s) pending confirmation: no alarm reaches anyone`, fix: `open the "AWS Notification - Subscription Confirmation" mail sent to ${this.stage.alarmEmail} and confirm` }
        : { id, title, status: "fail", detail: "no subscription", fix: `deploy the stage (it subscribes ${this.stage.alarmEmail})` };
    } catch (err) {
      return this.failed(id, title, err, `the topic ${this.names.alarmTopic}`, `deploy the stage (npm run deploy:${this.stage.name})`);
    }
  }

  async image(): Promise<CheckResult> {
    const id = "image";
    const title = "the stage's image tag is in ECR";
    const tag = this.stage.imageTag;
    try {
      const r = await this.clients.ecr.send(new DescribeImagesCommand({ repositoryName: this.names.repository, imageIds: [{ imageTag: tag }] }));
      const image = r.imageDetails?.[0];
      return image
        ? { id, title, status: "pass", detail: `${this.names.repository}:${tag} pushed ${image.imagePushedAt ? image.imagePushedAt.toISOString() : "(time unknown)"}` }
        : { id, title, status: "fail", detail: `${this.names.repository}:${tag} not found`, fix: this.publishFix() };
    } catch (err) {
      const code = (err as AwsErrorLike).name ?? "";
      if (code === "ImageNotFoundException") {
        return { id, title, status: "fail", detail: `${this.names.repository}:${tag} not found`, fix: this.publishFix() };
      }
      return this.failed(id, title, err, `the repository ${this.names.repository}`, `deploy the stage (npm run deploy:${this.stage.name})`);
    }
  }

  private publishFix(): string {
    return `npm run image:publish -- --stage ${this.stage.name}, then set imageTag in modules/stages.ts to the tag it prints`;
  }

  async schedules(): Promise<CheckResult[]> {
    return Promise.all(
      this.names.schedules.map(async (name): Promise<CheckResult> => {
        const id = `schedule:${name}`;
        const title = `schedule ${name} enabled`;
        try {
          const r = await this.clients.scheduler.send(new GetScheduleCommand({ Name: name, GroupName: this.names.scheduleGroup }));
          return r.State === "ENABLED"
            ? { id, title, status: "pass", detail: `${r.ScheduleExpression ?? ""} ${r.ScheduleExpressionTimezone ?? ""}`.trim() }
            : { id, title, status: "fail", detail: `the schedule is ${r.State ?? "in an unknown state"}`, fix: `deploy the stage again: the stack declares it ENABLED (npm run plan:${this.stage.name} shows the change)` };
        } catch (err) {
          return this.failed(id, title, err, `the schedule ${name}`, `deploy the stage (npm run deploy:${this.stage.name})`);
        }
      }),
    );
  }

  /** The ledger of the last digest date that has one (today's or yesterday's, New York). */
  async lastRun(): Promise<CheckResult> {
    const id = "last-run";
    const title = "the last run's outcome (delivery ledger)";
    const ledger = new DeliveryLedger(this.clients.dynamodb, this.names.ledgerTable);
    const today = digestDate(this.now());
    const yesterday = digestDate(new Date(this.now().getTime() - 24 * 3600 * 1000));
    try {
      for (const date of [today, yesterday]) {
        const items = [...(await ledger.items(date)).values()];
        if (items.length === 0) continue;
        const states: Record<string, number> = {};
        for (const it of items) states[it.state] = (states[it.state] ?? 0) + 1;
        const summary = Object.entries(states).map(([s, n]) => `${n} ${s}`).join(", ");
        const notDone = items.length - (states.sent ?? 0);
        return notDone === 0
          ? { id, title, status: "pass", detail: `digest ${date}: ${summary}` }
          : { id, title, status: "fail", detail: `digest ${date}: ${summary}`, fix: `npm run digest -- ledger status --date ${date} (VIBE_LEDGER_TABLE=${this.names.ledgerTable}); failed ones go out at the catch-up run, unknown ones need a look (docs/operations.md)` };
      }
      return { id, title, status: "warn", detail: `no run recorded for ${today} or ${yesterday}`, fix: "expected before the first scheduled run; otherwise look at the task's logs and the task-failed-to-start / schedule alarms" };
    } catch (err) {
      return this.failed(id, title, err, `the ledger ${this.names.ledgerTable}`, `deploy the stage (npm run deploy:${this.stage.name})`);
    }
  }
}

/** The checklist as text, one line per check and a fix line under each that is not a pass. */
export function renderChecklist(stage: StageConfig, results: readonly CheckResult[]): string[] {
  const mark: Record<CheckStatus, string> = { pass: "ok  ", fail: "FAIL", warn: "warn", "cannot-check": "n/a " };
  const lines = [`doctor: stage ${stage.name} (account ${stage.account}, ${stage.region})`];
  for (const r of results) {
    lines.push(`  [${mark[r.status]}] ${r.title}: ${r.detail}`);
    if (r.fix && r.status !== "pass") lines.push(`         -> ${r.fix}`);
  }
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  lines.push(`${count("pass")} passed, ${count("fail")} failed, ${count("warn")} warnings, ${count("cannot-check")} cannot be checked here`);
  return lines;
}
