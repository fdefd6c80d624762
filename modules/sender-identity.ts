/**
 * The SES identity the digest is sent from, and the grant to send as it.
 */
import { Construct } from "constructs";
import { SesEmailIdentity } from "@cdktf/provider-aws/lib/ses-email-identity";
import type { IGrantee } from "./policy";
import { assertEmail } from "./validate";

/** Props for {@link SenderIdentity}. */
export interface SenderIdentityProps {
  /** The From address; SES verifies it (a mail to it must be clicked on real AWS). */
  readonly fromAddress: string;
}

/** Typed attributes of a {@link SenderIdentity}. */
export interface SenderIdentityOutputs {
  readonly fromAddress: string;
  /** ARN of the email identity (the resource that ses:SendEmail is authorized on). */
  readonly emailIdentityArn: string;
}

/** An SES email identity for the From address. */
export class SenderIdentity extends Construct {
  readonly emailIdentity: SesEmailIdentity;
  readonly outputs: SenderIdentityOutputs;

  constructor(scope: Construct, id: string, props: SenderIdentityProps) {
    super(scope, id);
    assertEmail(this, "fromAddress", props.fromAddress);
    this.emailIdentity = new SesEmailIdentity(this, "email", { email: props.fromAddress });
    this.outputs = { fromAddress: props.fromAddress, emailIdentityArn: this.emailIdentity.arn };
  }

  /** The main resource (the email identity). */
  get resource(): SesEmailIdentity {
    return this.emailIdentity;
  }

  /**
   * Lets `grantee` send as the From address only: ses:SendEmail and ses:SendRawEmail on
   * this identity, with ses:FromAddress pinned to the address.
   */
  grantSend(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({
      sid: "SendDigestEmail",
      actions: ["ses:SendEmail", "ses:SendRawEmail"],
      resources: [this.emailIdentity.arn],
      conditions: [{ test: "StringEquals", variable: "ses:FromAddress", values: [this.outputs.fromAddress] }],
    });
  }
}
