/**
 * Everything SES needs to send the digest well: a domain identity with Easy DKIM
 * (2048-bit) and a custom MAIL FROM subdomain, DNS records for them and DMARC when the
 * Route53 zone is given, an email identity for the From address, and a configuration set
 * (TLS required, reputation metrics, suppression) whose events go to CloudWatch and SNS.
 */
import { Construct } from "constructs";
import { Fn } from "cdktf";
import { SesEmailIdentity } from "@cdktf/provider-aws/lib/ses-email-identity";
import { SesDomainMailFrom } from "@cdktf/provider-aws/lib/ses-domain-mail-from";
import { Sesv2EmailIdentity } from "@cdktf/provider-aws/lib/sesv2-email-identity";
import { Sesv2ConfigurationSet } from "@cdktf/provider-aws/lib/sesv2-configuration-set";
import { Sesv2ConfigurationSetEventDestination } from "@cdktf/provider-aws/lib/sesv2-configuration-set-event-destination";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import type { CustomerManagedKey } from "./customer-managed-key";
import { EncryptedTopic } from "./encrypted-topic";
import { ConfigError } from "./errors";
import { UNSCOPED_READS_SID, type IGrantee } from "./policy";
import { assertDomain, assertEmail, assertName } from "./validate";

/** SES events the configuration set publishes. */
export const SES_EVENT_TYPES = ["BOUNCE", "COMPLAINT", "REJECT", "DELIVERY"] as const;

/** Props for {@link SenderIdentity}. */
export interface SenderIdentityProps {
  /** Prefix for names, e.g. "vibe-digest-prod". */
  readonly namePrefix: string;
  /** The sending domain. */
  readonly domain: string;
  /** The From address; must be in `domain`. */
  readonly fromAddress: string;
  /** CMK for the SES events topic. */
  readonly key: CustomerManagedKey;
  /** Region (for the MAIL FROM MX record). */
  readonly region: string;
  /** Route53 zone of `domain`. @default - no DNS records are managed (add them by hand) */
  readonly hostedZoneId?: string;
  /** MAIL FROM subdomain label. @default "mail" */
  readonly mailFromSubdomain?: string;
  /** DMARC policy. @default "quarantine" */
  readonly dmarcPolicy?: "none" | "quarantine" | "reject";
  /** Where DMARC aggregate reports go. @default "dmarc-reports@<domain>" */
  readonly dmarcReportAddress?: string;
  /** Declare the domain identity (Easy DKIM, MAIL FROM, DNS records). @default true */
  readonly domainIdentity?: boolean;
  /** Declare the SESv2 configuration set. @default true */
  readonly configurationSet?: boolean;
  /** Publish the configuration set's events to CloudWatch and SNS. @default true */
  readonly eventDestinations?: boolean;
}

/** Typed attributes of a {@link SenderIdentity}. */
export interface SenderIdentityOutputs {
  readonly fromAddress: string;
  readonly domain: string;
  /** ARN of the email identity of the From address. */
  readonly emailIdentityArn: string;
  /** ARN of the domain identity, when declared. */
  readonly domainIdentityArn?: string;
  /** Name of the configuration set, when declared. */
  readonly configurationSetName?: string;
  readonly eventsTopicArn: string;
}

/** SES identities, DNS records and the configuration set for the digest sender. */
export class SenderIdentity extends Construct {
  readonly emailIdentity: SesEmailIdentity;
  readonly domainIdentity?: Sesv2EmailIdentity;
  readonly mailFrom?: SesDomainMailFrom;
  readonly configurationSet?: Sesv2ConfigurationSet;
  readonly eventsTopic: EncryptedTopic;
  readonly records: Route53Record[] = [];
  readonly outputs: SenderIdentityOutputs;
  private readonly key: CustomerManagedKey;

  constructor(scope: Construct, id: string, props: SenderIdentityProps) {
    super(scope, id);
    this.key = props.key;
    assertName(this, "namePrefix", props.namePrefix);
    assertDomain(this, "domain", props.domain);
    assertEmail(this, "fromAddress", props.fromAddress);
    if (!props.fromAddress.toLowerCase().endsWith(`@${props.domain.toLowerCase()}`)) {
      throw new ConfigError("EMAIL_ADDRESS_INVALID", this.node.path, "fromAddress", "an address in the sending domain");
    }
    const mailFromLabel = props.mailFromSubdomain ?? "mail";
    assertDomain(this, "mailFromSubdomain", `${mailFromLabel}.${props.domain}`);
    const mailFromDomain = `${mailFromLabel}.${props.domain}`;
    const dmarcReport = props.dmarcReportAddress ?? `dmarc-reports@${props.domain}`;
    assertEmail(this, "dmarcReportAddress", dmarcReport);

    const wantSet = props.configurationSet ?? true;
    const setName = `${props.namePrefix}-digest`;
    if (wantSet) {
      this.configurationSet = new Sesv2ConfigurationSet(this, "configuration-set", {
        configurationSetName: setName,
        deliveryOptions: { tlsPolicy: "REQUIRE" },
        reputationOptions: { reputationMetricsEnabled: true },
        sendingOptions: { sendingEnabled: true },
        suppressionOptions: { suppressedReasons: ["BOUNCE", "COMPLAINT"] },
      });
    }

    if (props.domainIdentity ?? true) {
      this.domainIdentity = new Sesv2EmailIdentity(this, "domain", {
        emailIdentity: props.domain,
        dkimSigningAttributes: { nextSigningKeyLength: "RSA_2048_BIT" },
        ...(this.configurationSet ? { configurationSetName: this.configurationSet.configurationSetName } : {}),
      });
      this.mailFrom = new SesDomainMailFrom(this, "mail-from", {
        domain: this.domainIdentity.emailIdentity,
        mailFromDomain,
        behaviorOnMxFailure: "UseDefaultValue",
      });
    } else if (props.hostedZoneId) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "hostedZoneId", "given only with the domain identity (the DKIM records need its tokens)");
    }
    this.emailIdentity = new SesEmailIdentity(this, "email", { email: props.fromAddress });

    this.eventsTopic = new EncryptedTopic(this, "events", { topicName: `${props.namePrefix}-ses-events`, key: props.key });
    if (this.configurationSet && (props.eventDestinations ?? true)) {
      const setArnLike = `arn:${props.key.partition}:ses:${props.region}:${props.key.account}:configuration-set/${setName}`;
      this.eventsTopic.allowServicePublish("SesEventsPublish", "ses.amazonaws.com", setArnLike);
      new Sesv2ConfigurationSetEventDestination(this, "events-to-cloudwatch", {
        configurationSetName: this.configurationSet.configurationSetName,
        eventDestinationName: "cloudwatch",
        eventDestination: {
          enabled: true,
          matchingEventTypes: [...SES_EVENT_TYPES],
          cloudWatchDestination: {
            dimensionConfiguration: [{ dimensionName: "ses:configuration-set", dimensionValueSource: "MESSAGE_TAG", defaultDimensionValue: setName }],
          },
        },
      });
      new Sesv2ConfigurationSetEventDestination(this, "events-to-sns", {
        configurationSetName: this.configurationSet.configurationSetName,
        eventDestinationName: "sns",
        eventDestination: { enabled: true, matchingEventTypes: [...SES_EVENT_TYPES], snsDestination: { topicArn: this.eventsTopic.arn } },
      });
    }

    if (props.hostedZoneId && this.domainIdentity) {
      const zoneId = props.hostedZoneId;
      const tokens = this.domainIdentity.dkimSigningAttributes.tokens;
      // Easy DKIM always issues three tokens.
      for (let i = 0; i < 3; i++) {
        const token = Fn.element(tokens, i);
        this.records.push(
          new Route53Record(this, `dkim-${i}`, {
            zoneId,
            name: `${token}._domainkey.${props.domain}`,
            type: "CNAME",
            ttl: 1800,
            records: [`${token}.dkim.amazonses.com`],
          }),
        );
      }
      this.records.push(
        new Route53Record(this, "mail-from-mx", {
          zoneId,
          name: mailFromDomain,
          type: "MX",
          ttl: 1800,
          records: [`10 feedback-smtp.${props.region}.amazonses.com`],
        }),
        new Route53Record(this, "mail-from-spf", {
          zoneId,
          name: mailFromDomain,
          type: "TXT",
          ttl: 1800,
          records: ["v=spf1 include:amazonses.com ~all"],
        }),
        new Route53Record(this, "dmarc", {
          zoneId,
          name: `_dmarc.${props.domain}`,
          type: "TXT",
          ttl: 1800,
          records: [`v=DMARC1; p=${props.dmarcPolicy ?? "quarantine"}; rua=mailto:${dmarcReport}; adkim=s; aspf=r`],
        }),
      );
    }

    this.outputs = {
      fromAddress: props.fromAddress,
      domain: props.domain,
      emailIdentityArn: this.emailIdentity.arn,
      ...(this.domainIdentity ? { domainIdentityArn: this.domainIdentity.arn } : {}),
      ...(this.configurationSet ? { configurationSetName: setName } : {}),
      eventsTopicArn: this.eventsTopic.arn,
    };
  }

  /** The identities' ARNs (the From address, and the domain when declared), built from their names. */
  private identityArns(): string[] {
    return [this.key.regionalArn("ses", `identity/${this.outputs.fromAddress}`), ...(this.domainIdentity ? [this.key.regionalArn("ses", `identity/${this.outputs.domain}`)] : [])];
  }

  /** The main resource (the email identity of the From address). */
  get resource(): SesEmailIdentity {
    return this.emailIdentity;
  }

  /**
   * Lets `grantee` send as the From address only: ses:SendEmail and ses:SendRawEmail on
   * the identities (and the configuration set, which SES also authorizes), with
   * ses:FromAddress pinned to the address. Also ses:GetSendQuota, which has no resource
   * (the sender reports quota use as a metric).
   */
  grantSend(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({
      sid: "SendDigestEmail",
      actions: ["ses:SendEmail", "ses:SendRawEmail"],
      resources: [...this.identityArns(), ...(this.configurationSet ? [this.key.regionalArn("ses", `configuration-set/${this.outputs.configurationSetName}`)] : [])],
      conditions: [{ test: "StringEquals", variable: "ses:FromAddress", values: [this.outputs.fromAddress] }],
    });
    grantee.addToPrincipalPolicy({ sid: "ReadSendQuota", actions: ["ses:GetSendQuota"], resources: ["*"] });
  }

  /**
   * Lets an operator check sending (the doctor): ses:GetEmailIdentity on the identities
   * (verified? DKIM successful?) and ses:GetAccount (production access, quota; it has no
   * resource-level permissions, so it joins the operator's one statement of such reads).
   */
  grantDescribe(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({ sid: "DescribeSenderIdentities", actions: ["ses:GetEmailIdentity"], resources: this.identityArns() });
    grantee.addToPrincipalPolicy({ sid: UNSCOPED_READS_SID, actions: ["ses:GetAccount"], resources: ["*"] });
  }
}
