/**
 * The S3 bucket that holds the stages' Terraform state: versioned (a bad apply can be
 * rolled back to an earlier state), encrypted with a customer-managed key (bucket key on),
 * public access blocked, objects owned by the bucket owner (no ACLs), TLS-only by bucket
 * policy, old versions expired after a while. Locking is Terraform's S3-native lock file
 * (`use_lockfile`, an object beside the state), so there is no lock table.
 */
import { Construct } from "constructs";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import type { CustomerManagedKey } from "./customer-managed-key";
import { ConfigError } from "./errors";
import { StatementSet, type IGrantee } from "./policy";
import { assertIntegerInRange } from "./validate";

/** Props for {@link StateBucket}. */
export interface StateBucketProps {
  /** Globally unique bucket name (3-63 of a-z 0-9 . -). */
  readonly bucketName: string;
  /** The CMK that encrypts every object (the state holds resource attributes, never secret values). */
  readonly key: CustomerManagedKey;
  /** Days a replaced or deleted state version is kept. @default 90 */
  readonly noncurrentVersionDays?: number;
}

/** The Terraform state bucket. */
export class StateBucket extends Construct {
  readonly bucket: S3Bucket;
  /** The bucket's ARN built from its name (known in every plan), for policy documents. */
  readonly bucketArn: string;
  private readonly key: CustomerManagedKey;

  constructor(scope: Construct, id: string, props: StateBucketProps) {
    super(scope, id);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(props.bucketName) || props.bucketName.includes("..")) {
      throw new ConfigError("NAME_INVALID", this.node.path, "bucketName", "an S3 bucket name (3-63 of a-z 0-9 . -)");
    }
    const keepDays = props.noncurrentVersionDays ?? 90;
    assertIntegerInRange(this, "VALUE_INVALID", "noncurrentVersionDays", keepDays, 1, 3650);
    this.key = props.key;
    this.bucketArn = `arn:${props.key.partition}:s3:::${props.bucketName}`;
    this.bucket = new S3Bucket(this, "bucket", { bucket: props.bucketName, forceDestroy: false });
    new S3BucketVersioningA(this, "versioning", { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.key.arn }, bucketKeyEnabled: true }],
    });
    new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketLifecycleConfiguration(this, "lifecycle", {
      bucket: this.bucket.id,
      rule: [
        {
          id: "expire-old-state-versions",
          status: "Enabled",
          filter: [{ prefix: "" }],
          noncurrentVersionExpiration: [{ noncurrentDays: keepDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
    });
    const policy = new StatementSet(this, "policy-document");
    policy.add({
      sid: "DenyWithoutTls",
      effect: "Deny",
      actions: ["s3:*"],
      resources: [this.bucketArn, `${this.bucketArn}/*`],
      principals: [{ type: "AWS", identifiers: ["*"] }],
      conditions: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
    });
    new S3BucketPolicy(this, "policy", { bucket: this.bucket.id, policy: policy.document.json });
  }

  get resource(): S3Bucket {
    return this.bucket;
  }

  /**
   * Lets `grantee` read (and, with `write`, write and lock) the state objects below
   * `prefix` ("vibe-digest/prod/"), list the bucket, and use the key via S3 for them.
   */
  grantState(grantee: IGrantee, prefix: string, opts: { readonly write: boolean; readonly sid: string }): void {
    if (!/^[a-z0-9][a-z0-9/_.-]*\/$/.test(prefix)) throw new ConfigError("VALUE_INVALID", this.node.path, "prefix", "a key prefix ending in /");
    grantee.addToPrincipalPolicy({ sid: `${opts.sid}List`, actions: ["s3:ListBucket"], resources: [this.bucketArn] });
    grantee.addToPrincipalPolicy({
      sid: `${opts.sid}Objects`,
      actions: opts.write ? ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"] : ["s3:GetObject"],
      resources: [`${this.bucketArn}/${prefix}*`],
    });
    const actions = opts.write ? ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"];
    this.key.grantUseVia(grantee, "s3", actions, `${opts.sid}Key`, opts.write ? "StateWritersViaS3" : "StateReadersViaS3");
  }
}
