/**
 * Helpers for the sender's tests: real moto-backed SDK clients (the suite's one moto,
 * MOTO_URL), a unique parameter root per test, the parameters a stack would write, an
 * SSM call counter, and a logger that captures JSON lines.
 */
import { randomUUID } from "node:crypto";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { PutParameterCommand, SSMClient, type ParameterType } from "@aws-sdk/client-ssm";
import { createLogger, type Logger } from "../../app/src/log";

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
  unsubscribe?: string;
}

/** Puts the parameters a stack writes (placeholders for secrets unless given). */
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
  if (v.configurationSet !== undefined) params.push(["email/configuration_set", v.configurationSet, "String"]);
  if (v.unsubscribe !== undefined) params.push(["email/unsubscribe_url", v.unsubscribe, "String"]);
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
