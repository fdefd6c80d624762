/**
 * Credential rotation without code changes (`npm run rotate`), one function per credential.
 * Each is a list of named steps; a failing step stops the rotation, undoes what the steps
 * before it changed (in the reverse order), and reports which step failed, what the sender
 * uses now and what to run next. The old credential keeps working through any failure.
 *
 * - access key (the `access-key` credential mode): a new IAM key for the sender user,
 *   verified with SES, written as one change (app/src/credential-pair.ts: the secret version
 *   is labelled for its key id and the id is written last), then the old key is deactivated;
 *   the next rotation deletes it. IAM allows two keys per user, which is why the deactivated
 *   key is deleted first and why another active key stops the rotation.
 * - SendGrid API key: the new value from standard input, checked against SendGrid's API
 *   (GET /v3/scopes must list mail.send) before it replaces the old one.
 * - unsubscribe signing key: a new random key; the old one moves to
 *   `email/unsubscribe_signing_key_previous` with an expiry, so links already in inboxes
 *   keep verifying for the grace period (app/src/unsubscribe.ts).
 *
 * Nothing here prints or returns a secret: key ids are masked to their last 4 characters.
 */
import { randomBytes } from "node:crypto";
import { QueryCommand, type DynamoDBClient, type QueryCommandOutput } from "@aws-sdk/client-dynamodb";
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
  type IAMClient,
} from "@aws-sdk/client-iam";
import { GetSendQuotaCommand, type SESClient } from "@aws-sdk/client-ses";
import {
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  UnlabelParameterVersionCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { CliError, EXIT, describeFailure } from "../../app/src/cli-kit";
import { LEDGER, OPERATOR_PARAMETERS, SECRET_PLACEHOLDER, operatorParameterName, parameterName } from "../../app/src/contract";
import { PAIR_LABEL_PREFIX, accessKeyPairLabel, pinPairedSecret } from "../../app/src/credential-pair";
import { mapAwsError } from "../../app/src/errors";
import { digestDate } from "../../app/src/render";
import { SIGNING_KEY_MAX_GRACE_DAYS, formatPreviousSigningKey, parsePreviousSigningKey, unsubscribeToken, unsubscribeVerificationKeys, verifyUnsubscribeToken } from "../../app/src/unsubscribe";
import { PARAMETER_RULES, isUnsetValue } from "../../app/src/validation";
import type { StageEnv } from "./stage-env";

/** Progress lines (the CLI passes its Output). */
export type Progress = (msg: string, fields?: Record<string, unknown>) => void;

/** One step as the rotation reports it. */
export interface StepRecord {
  readonly step: string;
  readonly title: string;
  readonly status: "done" | "skipped" | "failed" | "undone" | "undo-failed";
  readonly detail?: string;
}

/** `…WXYZ`: enough to tell keys apart in `aws iam list-access-keys`, never the whole id. */
export function maskKeyId(id: string): string {
  return `…${id.slice(-4)}`;
}

/** A step that threw, with the failure as the CLI convention describes it (code, request id; no payload). */
class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly title: string,
    readonly cause: unknown,
  ) {
    super(`${title}: ${describeFailure(cause).message}`);
    this.name = "StepFailed";
  }
}

/** Runs named steps, records them, and keeps the undo actions of what they changed. */
class StepRunner {
  readonly records: StepRecord[] = [];
  readonly warnings: string[] = [];
  private readonly undo: { title: string; fn: () => Promise<void> }[] = [];

  constructor(
    private readonly progress: Progress,
    private readonly afterStep?: (step: string) => Promise<void>,
  ) {}

  async run<T>(step: string, title: string, fn: () => Promise<T>, detail?: (v: T) => string | undefined): Promise<T> {
    let value: T;
    try {
      value = await fn();
    } catch (err) {
      this.records.push({ step, title, status: "failed", detail: describeFailure(err).message });
      throw err instanceof CliError ? err : new StepFailed(step, title, err);
    }
    const d = detail?.(value);
    this.records.push({ step, title, status: "done", ...(d ? { detail: d } : {}) });
    this.progress(`done: ${title}`, { step, ...(d ? { detail: d } : {}) });
    await this.afterStep?.(step);
    return value;
  }

  skip(step: string, title: string, why: string): void {
    this.records.push({ step, title, status: "skipped", detail: why });
    this.progress(`skipped: ${title} (${why})`, { step });
  }

  warn(msg: string): void {
    this.warnings.push(msg);
  }

  /** Registers how to undo a change a step is about to make (undone last-first on failure). */
  onFailureUndo(title: string, fn: () => Promise<void>): void {
    this.undo.push({ title, fn });
  }

  /** Undoes, last first; an undo that fails stops the ones before it (they may depend on it). */
  async rollBack(): Promise<{ ok: boolean; failed?: string }> {
    while (this.undo.length) {
      const u = this.undo.pop()!;
      try {
        await u.fn();
        this.records.push({ step: "undo", title: u.title, status: "undone" });
        this.progress(`undone: ${u.title}`);
      } catch (err) {
        this.records.push({ step: "undo", title: u.title, status: "undo-failed", detail: describeFailure(err).message });
        this.undo.length = 0;
        return { ok: false, failed: `${u.title} (${describeFailure(err).message})` };
      }
    }
    return { ok: true };
  }
}

/**
 * Puts `value` into the SecureString `name`, encrypted with the KMS key of `keyFrom` (default:
 * `name` itself), creating it when absent. SSM would otherwise fall back to aws/ssm on an
 * overwrite without KeyId. Returns the new version.
 */
export async function putSecureString(ssm: SSMClient, name: string, value: string, keyFrom: string = name): Promise<number> {
  const described = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [keyFrom] }] }));
  const keyId = described.Parameters?.find((p) => p.Name === keyFrom)?.KeyId;
  if (!keyId) throw new CliError("ROTATE_NOT_DEPLOYED", `${keyFrom} does not exist (or has no KMS key): deploy the stage first`, EXIT.config);
  const out = await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", KeyId: keyId, Overwrite: true }));
  return out.Version ?? 0;
}

/** The value of one SecureString (decrypted) with its version; undefined when it does not exist. */
async function readSecure(ssm: SSMClient, name: string): Promise<{ value: string; version: number } | undefined> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    return out.Parameter?.Value === undefined ? undefined : { value: out.Parameter.Value, version: out.Parameter.Version ?? 0 };
  } catch (err) {
    if (mapAwsError(err, "ssm:GetParameter", name).code === "AWS_PARAMETER_NOT_FOUND") return undefined;
    throw err;
  }
}

/**
 * Ends a rotation that stopped: undoes what the steps before changed, then throws one
 * CliError saying which step failed, that it was undone, what the sender uses now
 * (`state.holds`) and what to run next (`state.next`). A refusal or check of the rotation
 * itself (a CliError) keeps its code; an AWS or other failure becomes ROTATE_STEP_FAILED
 * (exit 2 when it is the operator's own access or credentials, else 1).
 */
async function failRotation(steps: StepRunner, err: unknown, state: { holds: string; next: string }): Promise<never> {
  const undone = await steps.rollBack();
  const cause = err instanceof StepFailed ? err.cause : err;
  const d = describeFailure(cause);
  const where = err instanceof StepFailed ? `step "${err.title}" failed (${d.code}: ${d.message})` : d.message;
  if (!undone.ok) {
    throw new CliError("ROTATE_UNDO_FAILED", `${where}, and undoing the steps before it failed at: ${undone.failed}. ${state.holds}`, EXIT.failed, `${d.hint ? `${d.hint}; ` : ""}then ${state.next}`);
  }
  const changed = steps.records.some((r) => r.status === "undone") ? " The steps before it were undone." : "";
  if (cause instanceof CliError) {
    throw new CliError(cause.code, `${cause.message}.${changed} ${state.holds}`, cause.exitCode, cause.hint ?? state.next);
  }
  throw new CliError("ROTATE_STEP_FAILED", `${where}.${changed} ${state.holds}`, d.exitCode === EXIT.config ? EXIT.config : EXIT.failed, `${d.hint ? `${d.hint}; ` : ""}then ${state.next}`);
}

// ---------------------------------------------------------------------------------------
// Access key
// ---------------------------------------------------------------------------------------

/** Step ids of the access key rotation, in order (tests inject a failure at each). */
export const ACCESS_KEY_STEPS = [
  "read-pair",
  "list-keys",
  "check-run",
  "delete-retired",
  "create-key",
  "verify-new",
  "pin-old",
  "write-secret",
  "pin-new",
  "write-id",
  "verify-stored",
  "deactivate-old",
  "drop-labels",
] as const;
export type AccessKeyStep = (typeof ACCESS_KEY_STEPS)[number];

export interface AccessKeyCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface AccessKeyRotationDeps {
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  /** The delivery ledger's client, to refuse while a run is sending. @default - no check */
  readonly ddb?: DynamoDBClient;
  /** An SES client signed with `credentials` (the stage's region and endpoint). */
  readonly sesWith: (credentials: AccessKeyCredentials) => SESClient;
  readonly progress?: Progress;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called after each step that completed (tests read what a run would see at that moment). */
  readonly afterStep?: (step: AccessKeyStep) => Promise<void>;
  /** Attempts of the new key's SES check (IAM takes a few seconds to accept a new key). @default 10 */
  readonly verifyAttempts?: number;
}

export interface AccessKeyRotationResult {
  readonly user: string;
  readonly newKey: string;
  readonly oldKey?: string;
  readonly deleted: readonly string[];
  readonly steps: readonly StepRecord[];
  readonly warnings: readonly string[];
}

/** Whether an SES answer says the credentials themselves are not (yet) accepted. */
function credentialsRejected(err: unknown): boolean {
  return describeFailure(mapAwsError(err, "ses:GetSendQuota", "account")).code === "AWS_CREDENTIALS_INVALID";
}

/**
 * Rotates the sender's access key pair on a stage in the `access-key` credential mode (see
 * the module comment and docs/rotation.md). Throws a CliError when refused or when a step
 * fails (after undoing what it changed).
 */
export async function rotateAccessKey(s: StageEnv, deps: AccessKeyRotationDeps, opts: { force?: boolean } = {}): Promise<AccessKeyRotationResult> {
  if (s.credentialsMode !== "access-key") {
    throw new CliError(
      "ROTATE_WRONG_MODE",
      `stage ${s.name} sends with the ECS task role (credentialsMode "${s.credentialsMode}"): it stores no access key, so there is none to rotate`,
      EXIT.config,
      "task-role credentials are temporary and rotated by AWS; nothing to do",
    );
  }
  const progress = deps.progress ?? (() => undefined);
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const steps = new StepRunner(progress, deps.afterStep as ((step: string) => Promise<void>) | undefined);
  const { ssm, iam } = deps;
  const idName = parameterName(s.parameterRoot, "awsAccessKeyId");
  const secretName = parameterName(s.parameterRoot, "awsSecretAccessKey");
  const user = s.senderUser;
  const rerun = `npm run rotate -- access-key --stage ${s.name}`;

  /** GetSendQuota with `c`; retries while IAM does not know a new key yet (bounded). */
  const verify = async (c: AccessKeyCredentials, attempts: number): Promise<void> => {
    const client = deps.sesWith(c);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await client.send(new GetSendQuotaCommand({}));
          return;
        } catch (err) {
          if (attempt >= attempts || !credentialsRejected(err)) throw err;
          await sleep(Math.min(5000, 1000 * 2 ** (attempt - 1)));
        }
      }
    } finally {
      client.destroy();
    }
  };

  // Read the pair exactly as the sender does (the secret labelled for the stored id).
  const stored = await steps
    .run("read-pair", "read the stored key pair", async () => {
      const out = await ssm.send(new GetParametersCommand({ Names: [idName, secretName], WithDecryption: true }));
      const id = out.Parameters?.find((p) => p.Name === idName);
      const secret = out.Parameters?.find((p) => p.Name === secretName);
      if (!id || !secret) {
        const missing = [!id && idName, !secret && secretName].filter(Boolean).join(" and ");
        throw new CliError("ROTATE_NOT_DEPLOYED", `${missing} does not exist: deploy the stage first (its credentialsMode is access-key)`, EXIT.config);
      }
      const values = new Map([[idName, id.Value ?? ""], [secretName, secret.Value ?? ""]]);
      await pinPairedSecret(ssm, s.parameterRoot, values);
      if (isUnsetValue(id.Value) || isUnsetValue(values.get(secretName))) return undefined;
      // Labelled already: the sender reads that version. Otherwise it reads the latest, which pin-old labels.
      return { id: id.Value!, secret: values.get(secretName)!, latestSecretVersion: secret.Version ?? 0, alreadyPinned: await labelExists(ssm, secretName, accessKeyPairLabel(id.Value!)) };
    }, (p) => (p ? `key ${maskKeyId(p.id)}` : "no pair stored yet (the sender uses its default credentials)"))
    .catch((err) => failRotation(steps, err, { holds: "Nothing was changed.", next: `check the stage is deployed, then run ${rerun}` }));
  const holdsOld = () => `Nothing else changed: the sender still uses the stored key ${stored ? maskKeyId(stored.id) : "(none: its default credentials)"}, which is still active.`;

  const keys = await steps
    .run("list-keys", `list the access keys of IAM user ${user}`, async () => {
      try {
        const out = await iam.send(new ListAccessKeysCommand({ UserName: user }));
        return (out.AccessKeyMetadata ?? []).map((k) => ({ id: k.AccessKeyId ?? "", status: k.Status ?? "Active" }));
      } catch (err) {
        if ((err as { name?: string }).name === "NoSuchEntityException" || (err as { name?: string }).name === "NoSuchEntity") {
          throw new CliError("ROTATE_NO_SENDER_USER", `IAM user ${user} does not exist`, EXIT.config, "set VIBE_SENDER_USER to the user whose key the sender stores (local stage), or create it");
        }
        throw err;
      }
    }, (k) => `${k.length} key(s)`)
    .catch((err) => failRotation(steps, err, { holds: holdsOld(), next: rerun }));

  if (stored && !keys.some((k) => k.id === stored.id)) {
    throw new CliError(
      "ROTATE_KEY_NOT_OWNED",
      `the stored key ${maskKeyId(stored.id)} is not a key of IAM user ${user}; nothing was changed`,
      EXIT.config,
      "set VIBE_SENDER_USER to the user that owns it (local stage), or put a pair of this user with `npm run secrets -- put --stage <stage>`",
    );
  }
  const others = keys.filter((k) => k.id !== stored?.id);
  const activeOthers = others.filter((k) => k.status === "Active");
  if (activeOthers.length > 0) {
    throw new CliError(
      "ROTATE_UNKNOWN_ACTIVE_KEY",
      `IAM user ${user} has another active key (${activeOthers.map((k) => maskKeyId(k.id)).join(", ")}) besides the stored one; IAM allows two keys per user, and one that is active may be in use: nothing was changed`,
      EXIT.failed,
      `check who uses it (aws iam get-access-key-last-used), deactivate it (aws iam update-access-key --status Inactive --user-name ${user} ...), then run ${rerun}`,
    );
  }

  if (opts.force) steps.skip("check-run", "check that no run is sending", "--force");
  else if (!deps.ddb) steps.skip("check-run", "check that no run is sending", "no ledger client");
  else {
    const live = await steps
      .run("check-run", "check that no run is sending", () => liveClaims(deps.ddb!, s.ledgerTable, now()), (n) => `${n} live claim(s) in today's ledger`)
      .catch((err) => {
        // A ledger that cannot be read does not block the rotation: the run guard is a courtesy.
        steps.warn(`could not read the delivery ledger ${s.ledgerTable} to check for a run in progress (${describeFailure(err).code})`);
        return 0;
      });
    if (live > 0) {
      throw new CliError(
        "ROTATE_RUN_IN_PROGRESS",
        `a run is sending now (${live} recipient(s) of today's digest claimed in ${s.ledgerTable}); deactivating the old key would fail its remaining sends: nothing was changed`,
        EXIT.failed,
        `wait until it ends (npm run digest -- ledger status), then run ${rerun} (--force skips this check)`,
      );
    }
  }

  const deleted: string[] = [];
  try {
    for (const k of others) {
      // Deactivated by the previous rotation: nothing uses it any more.
      await steps.run("delete-retired", `delete the key the previous rotation deactivated (${maskKeyId(k.id)})`, () => iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: k.id })));
      deleted.push(maskKeyId(k.id));
    }
    if (others.length === 0) steps.skip("delete-retired", "delete the key the previous rotation deactivated", "there is none");
  } catch (err) {
    await failRotation(steps, err, { holds: holdsOld(), next: rerun });
  }

  let created: AccessKeyCredentials | undefined;
  try {
    created = await steps.run(
      "create-key",
      `create a new access key for ${user}`,
      async () => {
        const out = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
        const k = out.AccessKey;
        if (!k?.AccessKeyId || !k.SecretAccessKey) throw new CliError("ROTATE_STEP_FAILED", "IAM answered CreateAccessKey without a key", EXIT.failed);
        // The rule the run applies to the stored pair (app/src/validation.ts), checked before anything is stored.
        if (!PARAMETER_RULES.awsAccessKeyId!(k.AccessKeyId).ok || !PARAMETER_RULES.awsSecretAccessKey!(k.SecretAccessKey).ok) {
          throw new CliError("ROTATE_VALUE_INVALID", "IAM answered CreateAccessKey with a key the sender would refuse", EXIT.failed);
        }
        return { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey };
      },
      (k) => `key ${maskKeyId(k.accessKeyId)}`,
    );
    const fresh = created;
    steps.onFailureUndo(`delete the new key ${maskKeyId(fresh.accessKeyId)}`, async () => {
      await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: fresh.accessKeyId }));
    });

    await steps.run("verify-new", "verify the new key with SES (GetSendQuota)", async () => {
      try {
        await verify(fresh, deps.verifyAttempts ?? 10);
      } catch (err) {
        const d = describeFailure(mapAwsError(err, "ses:GetSendQuota", "account"));
        throw new CliError("ROTATE_VERIFY_FAILED", `SES did not accept the new key (${d.code}: ${d.message})`, EXIT.failed);
      }
    });

    if (!stored) steps.skip("pin-old", "label the stored secret for the stored key id", "no pair stored");
    else if (stored.alreadyPinned) steps.skip("pin-old", "label the stored secret for the stored key id", "already labelled");
    else {
      // Only a pair that works is worth protecting; a transient failure stops the rotation.
      let works = true;
      try {
        await verify({ accessKeyId: stored.id, secretAccessKey: stored.secret }, 1);
      } catch (err) {
        if (!credentialsRejected(err)) throw new StepFailed("pin-old", "verify the stored pair with SES", err);
        works = false;
        steps.warn(`the stored pair (key ${maskKeyId(stored.id)}) did not authenticate with SES: the sender cannot have been using it`);
      }
      if (works) {
        await steps.run("pin-old", "label the stored secret for the stored key id", () =>
          ssm.send(new LabelParameterVersionCommand({ Name: secretName, ParameterVersion: stored.latestSecretVersion, Labels: [accessKeyPairLabel(stored.id)] })),
        );
      } else steps.skip("pin-old", "label the stored secret for the stored key id", "the stored pair does not work");
    }

    // From here the sender's view changes; each write is undone (old value put back) on failure.
    steps.onFailureUndo("put the old secret back", async () => {
      await putSecureString(ssm, secretName, stored?.secret ?? SECRET_PLACEHOLDER);
    });
    const version = await steps.run("write-secret", "write the new secret (the stored id still selects the old one)", () => putSecureString(ssm, secretName, fresh.secretAccessKey), (v) => `version ${v}`);
    await steps.run("pin-new", "label the new secret for the new key id", () =>
      ssm.send(new LabelParameterVersionCommand({ Name: secretName, ParameterVersion: version, Labels: [accessKeyPairLabel(fresh.accessKeyId)] })),
    );
    steps.onFailureUndo("put the old key id back", async () => {
      await putSecureString(ssm, idName, stored?.id ?? SECRET_PLACEHOLDER);
    });
    await steps.run("write-id", "write the new key id (the switch: runs from now on use the new pair)", () => putSecureString(ssm, idName, fresh.accessKeyId));

    await steps.run("verify-stored", "verify the stored pair as the sender reads it, with SES", async () => {
      const out = await ssm.send(new GetParametersCommand({ Names: [idName, secretName], WithDecryption: true }));
      const values = new Map((out.Parameters ?? []).map((p) => [p.Name ?? "", p.Value ?? ""] as [string, string]));
      await pinPairedSecret(ssm, s.parameterRoot, values);
      if (values.get(idName) !== fresh.accessKeyId || values.get(secretName) !== fresh.secretAccessKey) {
        throw new CliError("ROTATE_CONCURRENT_CHANGE", "the stored pair is not the one this rotation wrote: another change raced it", EXIT.failed);
      }
      try {
        await verify({ accessKeyId: values.get(idName)!, secretAccessKey: values.get(secretName)! }, 3);
      } catch (err) {
        const d = describeFailure(mapAwsError(err, "ses:GetSendQuota", "account"));
        throw new CliError("ROTATE_VERIFY_FAILED", `SES did not accept the stored pair as the sender reads it (${d.code}: ${d.message})`, EXIT.failed);
      }
    });
  } catch (err) {
    await failRotation(steps, err, { holds: holdsOld(), next: `fix the cause, then run ${rerun}` });
  }
  const fresh = created!;

  // Committed: the new pair is what every run reads. What is left only tidies up.
  if (stored) {
    try {
      await steps.run("deactivate-old", `deactivate the old key ${maskKeyId(stored.id)} (the next rotation deletes it)`, () =>
        iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: stored.id, Status: "Inactive" })),
      );
    } catch (err) {
      throw new CliError(
        "ROTATE_INCOMPLETE",
        `the new key ${maskKeyId(fresh.accessKeyId)} is stored, verified and in use, but deactivating the old key ${maskKeyId(stored.id)} failed (${describeFailure(err instanceof StepFailed ? err.cause : err).message}): it is still active`,
        EXIT.failed,
        `deactivate it: aws iam update-access-key --user-name ${user} --status Inactive --access-key-id <the id ending ${stored.id.slice(-4)}, from aws iam list-access-keys --user-name ${user}>`,
      );
    }
  } else steps.skip("deactivate-old", "deactivate the old key", "there was none");

  try {
    await steps.run("drop-labels", "drop the labels of keys that no longer exist", () => dropStaleLabels(ssm, secretName, [fresh.accessKeyId, ...(stored ? [stored.id] : [])]), (n) => `${n} label(s)`);
  } catch (err) {
    steps.warn(`could not drop old labels from ${secretName} (${describeFailure(err instanceof StepFailed ? err.cause : err).code}); the next rotation tries again`);
  }

  return { user, newKey: maskKeyId(fresh.accessKeyId), ...(stored ? { oldKey: maskKeyId(stored.id) } : {}), deleted, steps: steps.records, warnings: steps.warnings };
}

async function labelExists(ssm: SSMClient, name: string, label: string): Promise<boolean> {
  try {
    await ssm.send(new GetParameterCommand({ Name: `${name}:${label}` }));
    return true;
  } catch (err) {
    if (mapAwsError(err, "ssm:GetParameter", name).code === "AWS_PARAMETER_NOT_FOUND") return false;
    throw err;
  }
}

/**
 * Removes pair labels (PAIR_LABEL_PREFIX) of keys not in `keep` from the secret's versions,
 * so labelled versions never pile up (SSM keeps 100 versions and cannot drop a labelled one).
 */
async function dropStaleLabels(ssm: SSMClient, name: string, keep: readonly string[]): Promise<number> {
  const wanted = new Set(keep.map(accessKeyPairLabel));
  let dropped = 0;
  let token: string | undefined;
  // Bounded: SSM keeps at most 100 versions, 50 per page.
  for (let page = 0; page < 5; page++) {
    const out = await ssm.send(new GetParameterHistoryCommand({ Name: name, WithDecryption: false, MaxResults: 50, NextToken: token }));
    for (const v of out.Parameters ?? []) {
      const stale = (v.Labels ?? []).filter((l) => l.startsWith(PAIR_LABEL_PREFIX) && !wanted.has(l));
      if (stale.length && v.Version !== undefined) {
        await ssm.send(new UnlabelParameterVersionCommand({ Name: name, ParameterVersion: v.Version, Labels: stale }));
        dropped += stale.length;
      }
    }
    token = out.NextToken;
    if (!token) break;
  }
  return dropped;
}

/** Recipients of today's digest (America/New_York) claimed `in_progress` with a live lease. */
export async function liveClaims(ddb: DynamoDBClient, table: string, now: Date): Promise<number> {
  let count = 0;
  let start: QueryCommandOutput["LastEvaluatedKey"];
  // Bounded: 1000 recipients of small items fit in a few 1 MB pages.
  for (let page = 0; page < 20; page++) {
    const out: QueryCommandOutput = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "#pk = :d",
        FilterExpression: "#st = :ip AND #lease > :now",
        ExpressionAttributeNames: { "#pk": LEDGER.partitionKey, "#st": LEDGER.attributes.state, "#lease": LEDGER.attributes.leaseUntil },
        ExpressionAttributeValues: { ":d": { S: digestDate(now) }, ":ip": { S: "in_progress" }, ":now": { N: String(now.getTime()) } },
        ConsistentRead: true,
        Select: "COUNT",
        ExclusiveStartKey: start,
      }),
    );
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
    if (!start) break;
  }
  return count;
}

// ---------------------------------------------------------------------------------------
// SendGrid API key
// ---------------------------------------------------------------------------------------

/** The scope the sender's key needs (POST /v3/mail/send). */
export const SENDGRID_SEND_SCOPE = "mail.send";

export interface SendGridRotationDeps {
  readonly ssm: SSMClient;
  /** The new key (the CLI reads standard input). */
  readonly readNewKey: () => Promise<string>;
  readonly fetch?: typeof fetch;
  readonly progress?: Progress;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

export interface SendGridRotationResult {
  readonly parameter: string;
  readonly version: number;
  readonly scopes: readonly string[];
  readonly steps: readonly StepRecord[];
}

/** Asks SendGrid which scopes `key` has (GET /v3/scopes). Throws a CliError when it is not accepted. */
export async function sendgridScopes(baseUrl: string, key: string, f: typeof fetch = fetch, timeoutMs = 10_000): Promise<string[]> {
  let res: Response;
  try {
    res = await f(`${baseUrl}/v3/scopes`, { method: "GET", headers: { authorization: `Bearer ${key}`, accept: "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as { name?: string }).name ?? "error";
    throw new CliError("ROTATE_VERIFY_FAILED", `could not reach SendGrid at ${baseUrl} (${cause}): the new key was not checked`, EXIT.failed, "check the network (and VIBE_SENDGRID_BASE_URL on the local stage)");
  }
  const body = await res.text();
  if (res.status !== 200) {
    throw new CliError("ROTATE_VERIFY_FAILED", `SendGrid did not accept the new key (GET /v3/scopes answered HTTP ${res.status})`, EXIT.failed, "check the key you piped in (a SendGrid API key with mail.send)");
  }
  try {
    const scopes = (JSON.parse(body) as { scopes?: unknown }).scopes;
    if (Array.isArray(scopes) && scopes.every((x) => typeof x === "string")) return scopes as string[];
  } catch {
    /* below */
  }
  throw new CliError("ROTATE_VERIFY_FAILED", "SendGrid answered GET /v3/scopes without a scope list", EXIT.failed);
}

/** Replaces `sendgrid/api_key` with a key that SendGrid accepts for mail.send (see the module comment). */
export async function rotateSendGridKey(s: StageEnv, deps: SendGridRotationDeps): Promise<SendGridRotationResult> {
  const steps = new StepRunner(deps.progress ?? (() => undefined));
  const name = parameterName(s.parameterRoot, "sendgridApiKey");
  const holds = "The stored SendGrid key is unchanged and still valid (nothing was revoked).";
  const next = `npm run rotate -- sendgrid-key --stage ${s.name} < new-key`;
  try {
    const key = await steps.run("read-new", "read the new key from standard input", async () => {
      const v = await deps.readNewKey();
      // The rule the run and `secrets put` apply to sendgrid/api_key (app/src/validation.ts).
      const checked = PARAMETER_RULES.sendgridApiKey!(v);
      if (!checked.ok || checked.value === undefined) {
        throw new CliError("ROTATE_VALUE_INVALID", `the new SendGrid key must be ${checked.ok ? "set (not a placeholder)" : checked.expected}`, EXIT.config);
      }
      return v;
    });
    const current = await steps.run("read-stored", `read ${name}`, async () => {
      const c = await readSecure(deps.ssm, name);
      if (!c) throw new CliError("ROTATE_NOT_DEPLOYED", `${name} does not exist: stage ${s.name} declares no SendGrid key`, EXIT.config, "a stage without SendGrid has nothing to rotate");
      return c;
    });
    if (current.value === key) throw new CliError("ROTATE_SAME_VALUE", `the new SendGrid key is the one already stored in ${name}: nothing to rotate`, EXIT.failed);
    if (!s.sendgridBaseUrl) {
      throw new CliError("STAGE_ENV_INVALID", "VIBE_SENDGRID_BASE_URL is not set: the local stage's SendGrid emulator runs on a port picked at start", EXIT.config, "source .local/env.sh (written by npm run local -- --keep)");
    }
    const scopes = await steps.run("verify-new", `verify the new key with SendGrid (GET ${s.sendgridBaseUrl}/v3/scopes)`, async () => {
      const got = await sendgridScopes(s.sendgridBaseUrl!, key, deps.fetch, deps.timeoutMs);
      if (!got.includes(SENDGRID_SEND_SCOPE)) {
        throw new CliError("ROTATE_VERIFY_FAILED", `the new SendGrid key lacks the ${SENDGRID_SEND_SCOPE} scope (it has ${got.length} other scope(s)): the sender could not send with it`, EXIT.failed, "create a key with Mail Send access");
      }
      return got;
    });
    steps.onFailureUndo("put the old key back", async () => {
      await putSecureString(deps.ssm, name, current.value);
    });
    const version = await steps.run("write-new", `write the new key to ${name}`, () => putSecureString(deps.ssm, name, key), (v) => `version ${v}`);
    await steps.run("read-back", "read it back", async () => {
      const back = await readSecure(deps.ssm, name);
      if (back?.value !== key) throw new CliError("ROTATE_CONCURRENT_CHANGE", `${name} does not hold the new key after the write: another change raced it`, EXIT.failed);
    });
    return { parameter: name, version, scopes, steps: steps.records };
  } catch (err) {
    return failRotation(steps, err, { holds, next });
  }
}

// ---------------------------------------------------------------------------------------
// Unsubscribe signing key
// ---------------------------------------------------------------------------------------

/** Default grace period of the previous signing key (days). */
export const SIGNING_KEY_DEFAULT_GRACE_DAYS = 30;

export interface SigningKeyRotationDeps {
  readonly ssm: SSMClient;
  readonly progress?: Progress;
  readonly now?: () => Date;
  /** @default 32 random bytes, base64url (43 characters) */
  readonly newKey?: () => string;
}

export interface SigningKeyRotationResult {
  readonly parameter: string;
  readonly previousParameter: string;
  /** End of the old key's grace period (ISO), when there was an old key. */
  readonly previousValidUntil?: string;
  readonly steps: readonly StepRecord[];
}

/** Replaces the unsubscribe signing key, keeping the old one valid for `graceDays` (see the module comment). */
export async function rotateSigningKey(s: StageEnv, deps: SigningKeyRotationDeps, opts: { graceDays?: number; force?: boolean } = {}): Promise<SigningKeyRotationResult> {
  const graceDays = opts.graceDays ?? SIGNING_KEY_DEFAULT_GRACE_DAYS;
  if (!Number.isInteger(graceDays) || graceDays < 1 || graceDays > SIGNING_KEY_MAX_GRACE_DAYS) {
    throw new CliError("USAGE", `--grace-days must be a whole number of days from 1 to ${SIGNING_KEY_MAX_GRACE_DAYS}`, EXIT.usage);
  }
  const now = deps.now ?? (() => new Date());
  const steps = new StepRunner(deps.progress ?? (() => undefined));
  const name = parameterName(s.parameterRoot, "unsubscribeSigningKey");
  const previousName = operatorParameterName(s.parameterRoot, "unsubscribeSigningKeyPrevious");
  const next = `npm run rotate -- unsubscribe-signing-key --stage ${s.name}`;
  let current: { value: string; version: number } | undefined;
  try {
    current = await steps.run("read-current", `read ${name}`, async () => {
      const c = await readSecure(deps.ssm, name);
      if (!c) {
        throw new CliError(
          "ROTATE_NOT_DEPLOYED",
          `${name} does not exist: stage ${s.name} signs no unsubscribe links (its unsubscribe target is not an https URL)`,
          EXIT.config,
          "nothing to rotate on this stage",
        );
      }
      return c;
    });
    const old = isUnsetValue(current.value) ? undefined : current.value;
    const previous = await steps.run("read-previous", `read ${previousName}`, async () => parsePreviousSigningKey((await readSecure(deps.ssm, previousName))?.value, now()));
    if (previous && old && !opts.force) {
      throw new CliError(
        "ROTATE_GRACE_ACTIVE",
        `the key before the current one is still accepted until ${previous.expiresAt.toISOString()}; rotating now would stop accepting links signed with it: nothing was changed`,
        EXIT.failed,
        `wait until then, or run ${next} --force to cut its grace short`,
      );
    }
    const validUntil = new Date(now().getTime() + graceDays * 86_400_000);
    if (old) {
      await steps.run("keep-previous", `keep the current key as the previous one until ${validUntil.toISOString()}`, () =>
        putSecureString(deps.ssm, previousName, formatPreviousSigningKey(old, validUntil), name),
      );
    } else steps.skip("keep-previous", "keep the current key as the previous one", "no key was set");

    const fresh = (deps.newKey ?? (() => randomBytes(32).toString("base64url")))();
    const checked = PARAMETER_RULES.unsubscribeSigningKey!(fresh);
    if (!checked.ok || checked.value === undefined) throw new CliError("INTERNAL", "the generated signing key does not pass the signing key rule", EXIT.internal);
    steps.onFailureUndo("put the old signing key back", async () => {
      await putSecureString(deps.ssm, name, current!.value);
    });
    await steps.run("write-new", `write a new random key to ${name}`, () => putSecureString(deps.ssm, name, fresh), (v) => `version ${v}`);

    await steps.run("verify", "check that links signed with the old key and with the new key both verify", async () => {
      // Read as an endpoint should: the current key first, then the previous one.
      const nowCurrent = (await readSecure(deps.ssm, name))?.value;
      const nowPrevious = (await readSecure(deps.ssm, previousName))?.value;
      const keys = unsubscribeVerificationKeys(nowCurrent, nowPrevious, now());
      const probe = "rotation-check@invalid.example";
      const newOk = verifyUnsubscribeToken(keys, probe, unsubscribeToken(fresh, probe));
      const oldOk = !old || verifyUnsubscribeToken(keys, probe, unsubscribeToken(old, probe));
      if (!newOk || !oldOk) {
        throw new CliError("ROTATE_VERIFY_FAILED", `after the write, links signed with the ${!newOk ? "new" : "old"} key do not verify: another change raced this one`, EXIT.failed);
      }
    });
    return { parameter: name, previousParameter: previousName, ...(old ? { previousValidUntil: validUntil.toISOString() } : {}), steps: steps.records };
  } catch (err) {
    return failRotation(steps, err, { holds: "The signing key in use is the old one; links signed with it keep verifying.", next });
  }
}

/** Names of the parameters each rotation reads or writes (docs and the IAM table). */
export const ROTATION_PARAMETER_PATHS = {
  accessKey: ["aws/access_key_id", "aws/secret_access_key"],
  sendgridKey: ["sendgrid/api_key"],
  signingKey: ["email/unsubscribe_signing_key", OPERATOR_PARAMETERS.unsubscribeSigningKeyPrevious.path],
} as const;
