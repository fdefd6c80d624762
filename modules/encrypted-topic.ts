/**
 * An SNS topic encrypted with our CMK, whose topic policy and key policy are extended
 * together: a service that may publish also gets exactly the key use publishing needs
 * (an alarm that cannot publish to its encrypted topic is worse than none).
 */
import { Construct } from "constructs";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import type { CustomerManagedKey } from "./customer-managed-key";
import { toDocumentStatements, type PolicyCondition, type PolicyStatement } from "./policy";
import { assertEmail, assertName } from "./validate";

/** Props for {@link EncryptedTopic}. */
export interface EncryptedTopicProps {
  readonly topicName: string;
  /** The CMK that encrypts messages at rest. */
  readonly key: CustomerManagedKey;
}

/** An SNS topic encrypted with a CMK. */
export class EncryptedTopic extends Construct {
  readonly topic: SnsTopic;
  private readonly key: CustomerManagedKey;
  private readonly topicName: string;
  private readonly statements: PolicyStatement[] = [];
  private document?: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: EncryptedTopicProps) {
    super(scope, id);
    assertName(this, "topicName", props.topicName);
    this.key = props.key;
    this.topicName = props.topicName;
    this.topic = new SnsTopic(this, "topic", { name: props.topicName, kmsMasterKeyId: props.key.arn });
  }

  get resource(): SnsTopic {
    return this.topic;
  }

  get arn(): string {
    return this.topic.arn;
  }

  /** The topic's ARN built from its name (known in every plan), for policy documents. */
  get knownArn(): string {
    return this.key.regionalArn("sns", this.topicName);
  }

  /**
   * Lets `service` (e.g. "cloudwatch.amazonaws.com") publish, limited to this account and,
   * if given, to source ARNs matching `sourceArnLike`; adds the matching key-policy grant.
   */
  allowServicePublish(sid: string, service: string, sourceArnLike?: string): void {
    const conditions: PolicyCondition[] = [{ test: "StringEquals", variable: "aws:SourceAccount", values: [this.key.account] }];
    if (sourceArnLike) conditions.push({ test: "ArnLike", variable: "aws:SourceArn", values: [sourceArnLike] });
    this.statements.push({
      sid,
      actions: ["sns:Publish"],
      resources: [this.knownArn],
      principals: [{ type: "Service", identifiers: [service] }],
      conditions,
    });
    if (!this.document) {
      this.document = new DataAwsIamPolicyDocument(this, "policy-document", { statement: [] });
      new SnsTopicPolicy(this, "policy", { arn: this.topic.arn, policy: this.document.json });
    }
    this.document.putStatement(toDocumentStatements(this.statements));
    this.key.grantToService(`${sid}ViaEncryptedTopic`, service, ["kms:Decrypt", "kms:GenerateDataKey"], conditions.slice(0, 1));
  }

  /** Subscribes an email address (the recipient must confirm it on real AWS). */
  subscribeEmail(id: string, address: string): SnsTopicSubscription {
    assertEmail(this, "subscription address", address);
    return new SnsTopicSubscription(this, id, { topicArn: this.topic.arn, protocol: "email", endpoint: address });
  }
}
