/**
 * The doctor's answers on a real stage (prod), where moto cannot say what real AWS says:
 * production access, DKIM status, pending subscriptions, access denied, AWS errors. The SDK
 * is stubbed (aws-sdk-client-mock); the checks against moto are in
 * test/infra/local-apply.test.ts.
 */
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { DescribeImagesCommand, ECRClient } from "@aws-sdk/client-ecr";
import { GetScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { ListSubscriptionsByTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { prodStage } from "../../modules/stages";
import { doctorCli } from "../../scripts/doctor";
import { Doctor, renderChecklist, type CheckResult, type DoctorClients } from "../../scripts/lib/doctor";

const NOW = new Date("2026-12-01T15:00:00Z");
const stage = prodStage();

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} (message that must not be shown)`), { name, $metadata: { httpStatusCode: status, requestId: "req-1" } });
}

/** Clients whose every answer is a healthy prod account, until a test changes one. */
function healthy() {
  const clients: DoctorClients = {
    sesv2: new SESv2Client({ region: "us-east-1" }),
    ssm: new SSMClient({ region: "us-east-1" }),
    sns: new SNSClient({ region: "us-east-1" }),
    ecr: new ECRClient({ region: "us-east-1" }),
    scheduler: new SchedulerClient({ region: "us-east-1" }),
    dynamodb: new DynamoDBClient({ region: "us-east-1" }),
  };
  const m = {
    sesv2: mockClient(clients.sesv2),
    ssm: mockClient(clients.ssm),
    sns: mockClient(clients.sns),
    ecr: mockClient(clients.ecr),
    scheduler: mockClient(clients.scheduler),
    dynamodb: mockClient(clients.dynamodb),
  };
  m.sesv2.on(GetEmailIdentityCommand).resolves({ VerifiedForSendingStatus: true, DkimAttributes: { Status: "SUCCESS", SigningEnabled: true } });
  m.sesv2.on(GetAccountCommand).resolves({ ProductionAccessEnabled: true, SendingEnabled: true, EnforcementStatus: "HEALTHY", SendQuota: { Max24HourSend: 50_000, MaxSendRate: 14 } });
  m.ssm.on(GetParametersCommand).resolves({ Parameters: [{ Name: "/vibecoding/sendgrid/api_key", Value: "a-real-value" }] });
  m.sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: "arn:aws:sns:us-east-1:222222222222:vibe-digest-prod-alarms:1", Protocol: "email", Endpoint: stage.alarmEmail }] });
  m.ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageTags: [stage.imageTag], imagePushedAt: new Date("2026-11-28T10:00:00Z") }] });
  m.scheduler.on(GetScheduleCommand).resolves({ State: "ENABLED", ScheduleExpression: "cron(0 7 * * ? *)", ScheduleExpressionTimezone: "America/New_York" });
  m.dynamodb.on(QueryCommand).resolves({ Items: [{ digest_date: { S: "2026-12-01" }, recipient: { S: "readers@vibedigest.example.com" }, state: { S: "sent" } }] });
  return { clients, m };
}

const byId = (results: CheckResult[]) => new Map(results.map((r) => [r.id, r]));

describe("doctor on a real stage", () => {
  test("when the account is ready and the last run sent to everyone, every check passes", async () => {
    const { clients } = healthy();
    const results = await new Doctor(stage, clients, { now: () => NOW }).run();
    expect(results.filter((r) => r.status !== "pass")).toEqual([]);
    expect(results.map((r) => r.id)).toEqual([
      "ses-identity", "ses-dkim", "ses-production-access", "secret:sendgrid/api_key", "alarm-subscription", "image",
      "schedule:vibe-digest-prod-daily", "schedule:vibe-digest-prod-catch-up-1", "last-run",
    ]);
  });

  test("when the account is in the SES sandbox with the default quota, production access fails and says how to leave it", async () => {
    const { clients, m } = healthy();
    m.sesv2.on(GetAccountCommand).resolves({ ProductionAccessEnabled: false, SendingEnabled: true, EnforcementStatus: "HEALTHY", SendQuota: { Max24HourSend: 200, MaxSendRate: 1 } });
    const r = byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("ses-production-access")!;
    expect(r).toMatchObject({ status: "fail", detail: expect.stringContaining("sandbox"), fix: expect.stringContaining("production access") });
  });

  test("when DKIM is still pending, the DKIM check fails and points at the stage's hosted zone", async () => {
    const { clients, m } = healthy();
    m.sesv2.on(GetEmailIdentityCommand).resolves({ VerifiedForSendingStatus: false, DkimAttributes: { Status: "PENDING" } });
    const checks = byId(await new Doctor(stage, clients, { now: () => NOW }).run());
    expect(checks.get("ses-dkim")).toMatchObject({ status: "fail", detail: "DKIM of vibedigest.example.com is PENDING", fix: expect.stringContaining(stage.hostedZoneId!) });
    expect(checks.get("ses-identity")!.status).toBe("fail");
  });

  test("when the alarm mail was never confirmed, the subscription check fails and says where the confirmation went", async () => {
    const { clients, m } = healthy();
    m.sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: "PendingConfirmation", Protocol: "email", Endpoint: stage.alarmEmail }] });
    expect(byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("alarm-subscription")).toMatchObject({ status: "fail", fix: expect.stringContaining(stage.alarmEmail) });
  });

  test("when the SendGrid key still holds the placeholder in a stage that uses SendGrid, its check fails with the put command", async () => {
    const { clients, m } = healthy();
    m.ssm.on(GetParametersCommand).resolves({ Parameters: [{ Name: "/vibecoding/sendgrid/api_key", Value: "unset" }] });
    expect(byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("secret:sendgrid/api_key")).toMatchObject({ status: "fail", fix: 'printf %s "$VALUE" | npm run secrets -- put sendgrid/api_key' });
  });

  test("when a real call is denied, the check fails naming the operator role (not 'cannot check here'), and no AWS message is shown", async () => {
    const { clients, m } = healthy();
    m.sesv2.on(GetAccountCommand).rejects(awsError("AccessDeniedException", 403));
    const r = byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("ses-production-access")!;
    expect(r).toMatchObject({ status: "fail", detail: expect.stringContaining("AccessDeniedException, request req-1"), fix: expect.stringContaining("operator role") });
    expect(JSON.stringify(r)).not.toContain("must not be shown");
  });

  test("when real AWS answers 500, the check fails as 'could not check' (only the emulator's gaps are 'cannot check here')", async () => {
    const { clients, m } = healthy();
    m.ecr.on(DescribeImagesCommand).rejects(awsError("ServerException", 500));
    expect(byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("image")).toMatchObject({ status: "fail", detail: expect.stringMatching(/^could not check/) });
  });

  test("when the stage's image tag was never pushed, the image check fails with the publish command", async () => {
    const { clients, m } = healthy();
    m.ecr.on(DescribeImagesCommand).rejects(awsError("ImageNotFoundException", 400));
    expect(byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("image")).toMatchObject({
      status: "fail",
      detail: `vibe-digest-prod-sender:${stage.imageTag} not found`,
      fix: "npm run image:publish -- --stage prod, then set imageTag in modules/stages.ts to the tag it prints",
    });
  });

  test("when the stage is not deployed yet, the checks fail with 'deploy the stage'", async () => {
    const { clients, m } = healthy();
    m.scheduler.on(GetScheduleCommand).rejects(awsError("ResourceNotFoundException", 404));
    const r = byId(await new Doctor(stage, clients, { now: () => NOW }).run()).get("schedule:vibe-digest-prod-daily")!;
    expect(r).toMatchObject({ status: "fail", fix: "deploy the stage (npm run deploy:prod)" });
  });

  test("when printed for a person, each failure has its fix on the next line and the last line counts the outcomes", () => {
    const lines = renderChecklist(stage, [
      { id: "a", title: "thing one", status: "pass", detail: "fine" },
      { id: "b", title: "thing two", status: "fail", detail: "broken", fix: "do this" },
      { id: "c", title: "thing three", status: "cannot-check", detail: "cannot check here: x", fix: "confirm later" },
    ]);
    expect(lines).toEqual([
      "doctor: stage prod (account 222222222222, us-east-1)",
      "  [ok  ] thing one: fine",
      "  [FAIL] thing two: broken",
      "         -> do this",
      "  [n/a ] thing three: cannot check here: x",
      "         -> confirm later",
      "1 passed, 1 failed, 0 warnings, 1 cannot be checked here",
    ]);
  });

  test.each([[[]], [["--stage", "staging"]], [["--stage", "prod", "--fix"]]])("when run as doctor %j, it exits 64 (a stage is required, no default)", async (argv) => {
    const io: CliIo = { isTTY: true, stdout: () => undefined, stderr: () => undefined };
    expect(await doctorCli(io, {}).run(argv)).toBe(EXIT.usage);
  });
});
