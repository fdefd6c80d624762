import { SenderIdentity, SES_EVENT_TYPES, type SenderIdentityProps } from "../../modules/sender-identity";
import { TaskRole } from "../../modules/task-role";
import { synthWith, thrownBy, type Fixture } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

const BASE = {
  namePrefix: "vd-test",
  domain: "vibedigest.example.com",
  fromAddress: "digest@vibedigest.example.com",
  region: "us-east-1",
};

function build(f: Fixture, props: Partial<SenderIdentityProps> = {}): void {
  const sender = new SenderIdentity(f.stack, "sender", { ...BASE, key: f.key, ...props });
  sender.grantSend(new TaskRole(f.stack, "role", { roleName: "vd-test-task" }));
}
const synth = (props: Partial<SenderIdentityProps> = {}): TfJson => synthWith((f) => build(f, props));

function sendStatements(json: TfJson) {
  return statementsOf(json, resources(json, "aws_iam_role_policy").find((p) => p.props.name === "digest-task")!.props.policy);
}

describe("SenderIdentity", () => {
  const json = synth({ hostedZoneId: "Z123EXAMPLE" });
  const domain = onlyResource(json, "aws_sesv2_email_identity");
  const set = onlyResource(json, "aws_sesv2_configuration_set");

  test("when synthesized, the domain identity uses Easy DKIM with 2048-bit keys and the configuration set", () => {
    expect(domain.props.email_identity).toBe("vibedigest.example.com");
    expect(domain.props.dkim_signing_attributes).toEqual({ next_signing_key_length: "RSA_2048_BIT" });
    expect(domain.props.configuration_set_name).toBe(ref(set, "configuration_set_name"));
  });

  test("when synthesized, MAIL FROM is the mail. subdomain and falls back to the default on MX failure", () => {
    expect(onlyResource(json, "aws_ses_domain_mail_from").props).toMatchObject({
      mail_from_domain: "mail.vibedigest.example.com",
      behavior_on_mx_failure: "UseDefaultValue",
    });
  });

  test("when synthesized, the From address has its own email identity", () => {
    expect(onlyResource(json, "aws_ses_email_identity").props.email).toBe("digest@vibedigest.example.com");
  });

  test("when synthesized, the configuration set requires TLS, tracks reputation and suppresses bounces and complaints", () => {
    expect(set.props).toMatchObject({
      delivery_options: { tls_policy: "REQUIRE" },
      reputation_options: { reputation_metrics_enabled: true },
      suppression_options: { suppressed_reasons: ["BOUNCE", "COMPLAINT"] },
    });
  });

  test("when synthesized, bounce, complaint, reject and delivery events go to CloudWatch and to the events topic", () => {
    const dest = resources(json, "aws_sesv2_configuration_set_event_destination");
    expect(dest.map((d) => d.props.event_destination_name).sort()).toEqual(["cloudwatch", "sns"]);
    for (const d of dest) expect(d.props.event_destination.matching_event_types).toEqual([...SES_EVENT_TYPES]);
    const topic = resources(json, "aws_sns_topic").find((t) => t.props.name === "vd-test-ses-events")!;
    expect(dest.find((d) => d.props.event_destination_name === "sns")!.props.event_destination.sns_destination.topic_arn).toBe(ref(topic, "arn"));
  });

  test("when a hosted zone is given, it writes three DKIM CNAMEs from the identity's tokens", () => {
    const cnames = resources(json, "aws_route53_record").filter((r) => r.props.type === "CNAME");
    expect(cnames).toHaveLength(3);
    cnames.forEach((r, i) => {
      expect(r.props.zone_id).toBe("Z123EXAMPLE");
      expect(r.props.name).toContain(`element(${domain.address}.dkim_signing_attributes[0].tokens, ${i})`);
      expect(r.props.name).toMatch(/\._domainkey\.vibedigest\.example\.com$/);
      expect(r.props.records[0]).toMatch(/\.dkim\.amazonses\.com$/);
    });
  });

  test("when a hosted zone is given, the MAIL FROM domain gets its MX to SES feedback and an SPF record", () => {
    const records = resources(json, "aws_route53_record").filter((r) => r.props.name === "mail.vibedigest.example.com");
    expect(records.map((r) => [r.props.type, r.props.records])).toEqual([
      ["MX", ["10 feedback-smtp.us-east-1.amazonses.com"]],
      ["TXT", ["v=spf1 include:amazonses.com ~all"]],
    ]);
  });

  test("when a hosted zone is given, DMARC defaults to quarantine with a report address", () => {
    const dmarc = resources(json, "aws_route53_record").find((r) => r.props.name === "_dmarc.vibedigest.example.com")!;
    expect(dmarc.props.records).toEqual(["v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@vibedigest.example.com; adkim=s; aspf=r"]);
  });

  test.each(["none", "reject"] as const)("when the DMARC policy is %s, the record says so", (policy) => {
    const j = synth({ hostedZoneId: "Z1", dmarcPolicy: policy, dmarcReportAddress: "d@example.com" });
    const dmarc = resources(j, "aws_route53_record").find((r) => r.props.name.startsWith("_dmarc."))!;
    expect(dmarc.props.records[0]).toMatch(new RegExp(`^v=DMARC1; p=${policy}; rua=mailto:d@example.com;`));
  });

  test("when no hosted zone is given, it manages no DNS records", () => {
    expect(resources(synth(), "aws_route53_record")).toHaveLength(0);
  });

  test("when the events topic is used, SES may publish only from this account's configuration set", () => {
    const policy = resources(json, "aws_sns_topic_policy")[0]!;
    const [s] = statementsOf(json, policy.props.policy);
    expect(s).toMatchObject({ sid: "SesEventsPublish", actions: ["sns:Publish"], principals: [{ type: "Service", identifiers: ["ses.amazonaws.com"] }] });
    expect(s!.condition!.map((c) => c.variable)).toEqual(["aws:SourceAccount", "aws:SourceArn"]);
    expect(s!.condition![1]!.values[0]).toMatch(/:configuration-set\/vd-test-digest$/);
  });

  describe("grantSend", () => {
    const st = sendStatements(json);
    const send = statementBySid(st, "SendDigestEmail");

    test("when granted, it allows only SendEmail and SendRawEmail", () => {
      expect(send.actions).toEqual(["ses:SendEmail", "ses:SendRawEmail"]);
    });

    test("when granted, the resources are the two identities and the configuration set (ARNs built from their names), nothing wider", () => {
      expect(send.resources).toEqual([
        "arn:aws:ses:us-east-1:111111111111:identity/digest@vibedigest.example.com",
        `arn:aws:ses:us-east-1:111111111111:identity/${domain.props.email_identity}`,
        `arn:aws:ses:us-east-1:111111111111:configuration-set/${set.props.configuration_set_name}`,
      ]);
    });

    test("when granted, ses:FromAddress is pinned to the From address", () => {
      expect(send.condition).toEqual([{ test: "StringEquals", variable: "ses:FromAddress", values: ["digest@vibedigest.example.com"] }]);
    });

    test("when granted, GetSendQuota (no resource-level permission) is its own statement", () => {
      expect(statementBySid(st, "ReadSendQuota")).toMatchObject({ actions: ["ses:GetSendQuota"], resources: ["*"] });
    });
  });

  test("when the configuration set and domain identity are left out, the grant names the email identity only", () => {
    const j = synth({ configurationSet: false, domainIdentity: false });
    expect(resources(j, "aws_sesv2_configuration_set")).toHaveLength(0);
    expect(resources(j, "aws_sesv2_email_identity")).toHaveLength(0);
    expect(statementBySid(sendStatements(j), "SendDigestEmail").resources).toEqual(["arn:aws:ses:us-east-1:111111111111:identity/digest@vibedigest.example.com"]);
  });

  test.each([
    ["the From address is not an address", "EMAIL_ADDRESS_INVALID", { fromAddress: "digest" }],
    ["the From address is outside the domain", "EMAIL_ADDRESS_INVALID", { fromAddress: "digest@other.example.com" }],
    ["the domain has no dot", "DOMAIN_INVALID", { domain: "localhost", fromAddress: "a@localhost" }],
    ["the MAIL FROM label is not DNS", "DOMAIN_INVALID", { mailFromSubdomain: "bad label" }],
    ["the DMARC report address is bad", "EMAIL_ADDRESS_INVALID", { dmarcReportAddress: "reports" }],
    ["a zone is given without the domain identity", "VALUE_INVALID", { hostedZoneId: "Z1", domainIdentity: false }],
  ])("when %s, it throws %s", (_what, code, props) => {
    expect(thrownBy((f) => build(f, props as Partial<SenderIdentityProps>)).code).toBe(code);
  });
});
