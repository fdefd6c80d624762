import { credentialKindOf } from "../../modules/credential-values";
import { buildScheduledTask, thrownBy, type Fixture } from "../support/construct-fixtures";

// Made-up values in the shapes of real credentials (AWS's documented example key pair, a
// SendGrid-shaped key); none of them is a credential of anything. They are assembled at
// run time so that secret scanners (and the house check) do not flag a committed key.
const AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE";
const AWS_SESSION_KEY_ID = "ASIA" + "Y34FZKBOKMUTVV7A";
const AWS_SECRET = ["wJalrXUtnFEMI", "K7MDENG", "bPxRfiCYEXAMPLEKEY"].join("/");
const SENDGRID = ["SG", "ngeVfQFYQlKU0ufo8x5d1A", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"].join(".");

describe("credentialKindOf", () => {
  test.each([
    [AWS_KEY_ID, "aws-access-key-id"],
    [AWS_SESSION_KEY_ID, "aws-access-key-id"],
    [`key=${AWS_KEY_ID};`, "aws-access-key-id"],
    [SENDGRID, "sendgrid-api-key"],
    [AWS_SECRET, "high-entropy-string"],
    ["ghp_16C7e42F292c6912E7710c838347Ae178B4a", "high-entropy-string"],
    ["d41d8cd98f00b204e9800998ecf8427e", "high-entropy-string"],
  ])("when the value is %p, it is a %s", (value, kind) => {
    expect(credentialKindOf(value)).toBe(kind);
  });

  test.each([
    "/vibecoding",
    "us-east-1",
    "/tmp/out",
    "json",
    "vibe-digest-prod-delivery-ledger",
    "${aws_dynamodb_table.ledger_ledger-table_1A2B3C4D.name}",
    "${TfToken[TOKEN.123]}",
    "https://vibedigest.example.com/feeds/vibe-blog.rss",
    "digest@vibedigest.example.com",
    "arn:aws:iam::123456789012:role/vibe-digest-deployer",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/vibe-digest-prod-sender:2026.11.28",
    "America/New_York",
    "AKIA-not-a-key",
  ])("when the value is %p, it is plain configuration", (value) => {
    expect(credentialKindOf(value)).toBeUndefined();
  });
});

describe("ScheduledTask environment values", () => {
  const build = (f: Fixture, environment: Record<string, string>) => buildScheduledTask(f, { environment });

  test.each([
    ["an AWS access key id", { SES_USER: AWS_KEY_ID }],
    ["an AWS secret access key", { SES_PASS_B: AWS_SECRET }],
    ["a SendGrid key", { MAIL_FALLBACK: SENDGRID }],
  ])("when an innocently named variable holds %s, it throws SECRET_VALUE_REJECTED naming the variable, not the value", (_what, environment) => {
    const err = thrownBy((f) => build(f, environment)) as Error & { code?: string; subject?: string };
    const [name, value] = Object.entries(environment)[0]!;
    expect(err).toMatchObject({ code: "SECRET_VALUE_REJECTED", subject: `environment.${name}` });
    expect(`${err.message} ${err.stack}`).not.toContain(value);
  });

  test("when the values are plain configuration, it accepts them", () => {
    expect(() => thrownBy((f) => build(f, { VIBE_PARAMETER_ROOT: "/vibecoding", AWS_REGION: "us-east-1", VIBE_OUT_DIR: "/tmp/out" }))).toThrow(
      "expected the construct to throw",
    );
  });
});
