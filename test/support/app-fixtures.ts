/**
 * Helpers for the sender's tests: real moto-backed SDK clients (the suite's one moto,
 * MOTO_URL), a unique parameter root per test, the parameters a stack would write, an
 * SSM call counter, and a logger that captures JSON lines.
 */
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { SESClient, VerifyEmailIdentityCommand, type SESClientConfig } from "@aws-sdk/client-ses";
import { PutParameterCommand, SSMClient, type ParameterType } from "@aws-sdk/client-ssm";
import { ParameterStoreConfig } from "../../app/src/config";
import { LEDGER } from "../../app/src/contract";
import { dispatchProviderFor, type ProviderFactories } from "../../app/src/delivery/select";
import { SesClientCache } from "../../app/src/delivery/ses-client";
import { FeedFetcher } from "../../app/src/feeds";
import { DeliveryLedger, type DeliveryLedgerOptions } from "../../app/src/ledger";
import { createLogger, type Logger } from "../../app/src/log";
import { EmfMetrics } from "../../app/src/metrics";
import { RollbackStore } from "../../app/src/rollback";
import { runDigest, type RunOptions, type RunSummary } from "../../app/src/run";

export const REGION = "us-east-1";
export const TEST_CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" };

export function motoUrl(): string {
  const url = process.env.MOTO_URL;
  if (!url) throw new Error("MOTO_URL is not set: run through jest (globalSetup starts moto)");
  return url;
}

export function ssmClient(): SSMClient {
  return new SSMClient({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 2 });
}

export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 2 });
}

/** Creates a ledger table with the contract's key schema and TTL (what the stack declares). */
export async function createLedgerTable(ddb: DynamoDBClient, name = `ledger-${randomUUID().slice(0, 8)}`): Promise<string> {
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: LEDGER.partitionKey, AttributeType: "S" },
        { AttributeName: LEDGER.sortKey, AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: LEDGER.partitionKey, KeyType: "HASH" },
        { AttributeName: LEDGER.sortKey, KeyType: "RANGE" },
      ],
    }),
  );
  await ddb.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { Enabled: true, AttributeName: LEDGER.ttlAttribute } }));
  return name;
}

/**
 * An SesClientCache whose clients count every SES command they send and report
 * MaxSendRate 50/s (moto always says 1/s, which would make a 20-recipient test take 20 s).
 */
export function countingSesClients(log?: Logger): { cache: SesClientCache; calls: string[] } {
  const calls: string[] = [];
  const cache = new SesClientCache({
    endpoint: motoUrl(),
    logger: log,
    defaultCredentials: TEST_CREDENTIALS,
    create: (cfg: SESClientConfig) => {
      const client = new SESClient(cfg);
      client.middlewareStack.add(
        (next, ctx) => async (args) => {
          calls.push(ctx.commandName ?? "unknown");
          const out = await next(args);
          if (ctx.commandName === "GetSendQuotaCommand") Object.assign(out.output as object, { MaxSendRate: 50, Max24HourSend: 50_000, SentLast24Hours: 0 });
          return out;
        },
        { step: "initialize", name: `count-${randomUUID()}` },
      );
      return client;
    },
  });
  return { cache, calls };
}

export interface MigrationRunOptions {
  readonly feedsUrl: string;
  readonly sendgridUrl: string;
  /** A ledger table (VIBE_LEDGER_TABLE). @default - no ledger */
  readonly table?: string;
  readonly ledger?: DeliveryLedgerOptions;
  /** Parameter overrides (use_ses, ses_percent, sendgrid key ...). */
  readonly values?: Partial<StackValues>;
  /** Several recipients, comma-separated into to_address. @default - one */
  readonly recipients?: string[];
  /** Verify the sender in SES. @default true */
  readonly verify?: boolean;
  readonly factories?: Partial<ProviderFactories>;
  /** `USE_SES_EMAIL` override. */
  readonly useSesOverride?: boolean;
  readonly clock?: () => Date;
}

/**
 * One stack's worth of parameters under a fresh root, and `run()` that runs the digest as
 * the CLI does (router over moto SES and the local SendGrid emulator, rollback parameter
 * under the root, optional ledger), counting SES calls.
 */
export async function migrationStack(o: MigrationRunOptions) {
  const u = uniqueRoot();
  const ssm = ssmClient();
  const recipients = o.recipients ?? [u.to];
  await putParameters(ssm, u.root, {
    from: u.from,
    to: recipients.join(","),
    feeds: feedsJson(o.feedsUrl, { "/vibe-blog.rss": "Vibe Coding Weekly" }),
    sendgridApiKey: `SG.test-${u.id}`,
    ...o.values,
  });
  if (o.verify !== false) await verifySender(sesClient(), u.from);
  const ses = countingSesClients();
  const ddb = o.table ? dynamoClient() : undefined;
  const store = new RollbackStore(ssm, u.root);
  const run = async (opts: RunOptions & { log?: ReturnType<typeof captureLogger>; ledgerClock?: () => number } = {}): Promise<{ summary: RunSummary; log: ReturnType<typeof captureLogger>; emf: Record<string, unknown>[] }> => {
    const log = opts.log ?? captureLogger();
    const emfLines: string[] = [];
    const metrics = new EmfMetrics((l) => emfLines.push(l));
    const config = new ParameterStoreConfig(ssm, { root: u.root, ttlSeconds: 0, metrics, overrides: o.useSesOverride === undefined ? {} : { useSes: o.useSesOverride } });
    const summary = await runDigest(
      {
        config,
        feeds: new FeedFetcher({ timeoutMs: 2000, retries: 0 }),
        provider: (c, ctx) =>
          dispatchProviderFor(c, { ses: () => ses.cache.get(c).client, logger: log.logger, metrics, sendgridBaseUrl: o.sendgridUrl, sendgridMaxPerSecond: 50, sendgridTimeoutMs: 2000, rollbackStore: store, ...o.factories }, ctx),
        logger: log.logger,
        metrics,
        clock: o.clock,
        ledger: ddb && o.table ? new DeliveryLedger(ddb, o.table, { ...o.ledger, ...(opts.ledgerClock ? { now: opts.ledgerClock } : {}) }) : undefined,
        rollbackStore: store,
      },
      { ledgerSettleMs: 5000, ledgerPollMs: 100, ...opts, dispatch: { ceilingPerSecond: 50, ...opts.dispatch } },
    );
    metrics.flush();
    return { summary, log, emf: emfLines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };
  return { ...u, recipients, ssm, store, ses, run, sesSends: () => ses.calls.filter((c) => c === "SendRawEmailCommand").length };
}

export function sesClient(region = REGION): SESClient {
  return new SESClient({ region, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 2 });
}

/** Counts the commands a client sends (a middleware on the real client). */
export function countCommands(client: SSMClient | SESClient): string[] {
  const calls: string[] = [];
  (client.middlewareStack as SSMClient["middlewareStack"]).add(
    (next, context) => async (args) => {
      calls.push(context.commandName ?? "unknown");
      return next(args);
    },
    { step: "initialize", name: `count-${randomUUID()}` },
  );
  return calls;
}

/** A fresh root, e.g. "/t-<uuid>", and unique addresses for it. */
export function uniqueRoot(): { root: string; id: string; from: string; to: string } {
  const id = randomUUID().slice(0, 8);
  return { root: `/t-${randomUUID()}`, id, from: `digest-${id}@example.com`, to: `reader-${id}@example.net` };
}

export interface StackValues {
  region?: string;
  from: string;
  to: string;
  useSes?: string;
  sesPercent?: string;
  configurationSet?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sendgridApiKey?: string;
  feeds: string;
  /**
   * `digest/feed_hosts`. @default "127.0.0.1": the test feeds are served on loopback, which
   * the sender reaches only when the list names it (as the local stage's does); null: not written.
   */
  feedHosts?: string | null;
  fromName?: string;
  unsubscribe?: string;
  unsubscribeSigningKey?: string;
}

/** Puts the parameters a stack writes (placeholders for secrets unless given; the local stage's feed allow-list). */
export async function putParameters(ssm: SSMClient, root: string, v: StackValues, omit: string[] = []): Promise<void> {
  const params: [string, string, ParameterType][] = [
    ["aws/region", v.region ?? REGION, "String"],
    ["email/from_address", v.from, "String"],
    ["email/to_address", v.to, "StringList"],
    ["email/use_ses", v.useSes ?? "true", "String"],
    ["email/ses_percent", v.sesPercent ?? "100", "String"],
    ["aws/access_key_id", v.accessKeyId ?? "unset", "SecureString"],
    ["aws/secret_access_key", v.secretAccessKey ?? "unset", "SecureString"],
    ["sendgrid/api_key", v.sendgridApiKey ?? "unset", "SecureString"],
    ["digest/feeds", v.feeds, "String"],
  ];
  if (v.feedHosts !== null) params.push(["digest/feed_hosts", v.feedHosts ?? "127.0.0.1", "StringList"]);
  if (v.fromName !== undefined) params.push(["email/from_name", v.fromName, "String"]);
  if (v.configurationSet !== undefined) params.push(["email/configuration_set", v.configurationSet, "String"]);
  if (v.unsubscribe !== undefined) params.push(["email/unsubscribe_url", v.unsubscribe, "String"]);
  if (v.unsubscribeSigningKey !== undefined) params.push(["email/unsubscribe_signing_key", v.unsubscribeSigningKey, "SecureString"]);
  await Promise.all(
    params
      .filter(([p]) => !omit.includes(p))
      .map(([p, value, type]) => ssm.send(new PutParameterCommand({ Name: `${root}/${p}`, Value: value, Type: type, Overwrite: true }))),
  );
}

export async function verifySender(ses: SESClient, address: string): Promise<void> {
  await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: address }));
}

/** A logger that keeps its JSON lines. */
export function captureLogger(): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", level: "debug", destination: { write: (l: string) => void lines.push(l) } });
  return { logger, lines, text: () => lines.join("") };
}

export function feedsJson(base: string, names: Record<string, string>): string {
  return JSON.stringify(Object.entries(names).map(([path, name]) => ({ url: `${base}${path}`, name })));
}
