/**
 * One deployable stage of vibe-digest: composes the constructs, wires their grants and
 * exports the attributes that scripts and the sender's operators need.
 */
import { Construct } from "constructs";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider, type AwsProviderEndpoints } from "@cdktf/provider-aws/lib/provider";
import { PARAMETERS } from "../app/src/contract";
import { ConfigError } from "./errors";
import { ParameterStore } from "./parameter-store";
import { SenderIdentity } from "./sender-identity";
import { STACK_SERVICES, type StageConfig } from "./stages";
import { TaskRole } from "./task-role";
import { assertIntegerInRange, assertRegion, assertUrl } from "./validate";

/** Props for {@link DigestStack}. */
export interface DigestStackProps {
  readonly stage: StageConfig;
}

/** Names of the stack's Terraform outputs (scripts read them with `terraform output -json`). */
export const STACK_OUTPUTS = {
  parameterRoot: "parameter_root",
  kmsKeyArn: "kms_key_arn",
  kmsKeyId: "kms_key_id",
  fromAddress: "from_address",
  region: "region",
  taskRoleArn: "task_role_arn",
  parameterNames: "parameter_names",
} as const;

export class DigestStack extends TerraformStack {
  readonly stage: StageConfig;
  readonly parameters: ParameterStore;
  readonly sender: SenderIdentity;
  readonly taskRole: TaskRole;

  constructor(scope: Construct, props: DigestStackProps) {
    const { stage } = props;
    super(scope, stage.stackName);
    this.stage = stage;
    assertRegion(this, "stage.region", stage.region);
    assertIntegerInRange(this, "PERCENT_OUT_OF_RANGE", "stage.sesPercent", stage.sesPercent, 0, 100);
    if (stage.toAddresses.length === 0) throw new ConfigError("VALUE_INVALID", this.node.path, "stage.toAddresses", "at least one address");

    configureProvider(this, stage);
    configureBackend(this, stage);

    const prefix = stage.stackName;
    this.parameters = new ParameterStore(this, "parameters", {
      namePrefix: prefix,
      path: stage.parameterRoot,
      region: stage.region,
      values: {
        awsRegion: stage.region,
        fromAddress: stage.fromAddress,
        toAddress: stage.toAddresses.join(","),
        useSes: String(stage.useSes),
        sesPercent: String(stage.sesPercent),
        feeds: JSON.stringify(stage.feeds),
      },
    });
    this.sender = new SenderIdentity(this, "sender", { fromAddress: stage.fromAddress });
    this.taskRole = new TaskRole(this, "task-role", { roleName: `${prefix}-task` });

    this.sender.grantSend(this.taskRole);
    this.parameters.grantRead(this.taskRole);

    const out = (id: string, value: unknown, description: string): void => {
      new TerraformOutput(this, id, { value, description });
    };
    out(STACK_OUTPUTS.parameterRoot, this.parameters.outputs.root, "Root of the Parameter Store hierarchy");
    out(STACK_OUTPUTS.kmsKeyArn, this.parameters.outputs.keyArn, "ARN of the CMK that encrypts the SecureStrings");
    out(STACK_OUTPUTS.kmsKeyId, this.parameters.outputs.keyId, "Id of the CMK that encrypts the SecureStrings");
    out(STACK_OUTPUTS.fromAddress, this.sender.outputs.fromAddress, "Verified SES sender address");
    out(STACK_OUTPUTS.region, stage.region, "AWS region of the stack");
    out(STACK_OUTPUTS.taskRoleArn, this.taskRole.outputs.roleArn, "IAM role the sender task runs as");
    out(STACK_OUTPUTS.parameterNames, this.parameters.outputs.parameterNames, "Full names of the declared parameters, by contract key");
  }
}

/** Number of declared parameters a stack has by default (for tests and reports). */
export const DECLARED_PARAMETER_COUNT = Object.keys(PARAMETERS).length - 1; // configuration_set comes with the configuration set

function configureProvider(stack: TerraformStack, stage: StageConfig): void {
  const defaultTags = [{ tags: { Project: "vibe-digest", Stage: stage.name, ManagedBy: "cdktf" } }];
  if (stage.target.kind === "aws") {
    new AwsProvider(stack, "aws", { region: stage.region, defaultTags });
    return;
  }
  const endpoint = stage.target.endpoint;
  assertUrl(stack, "stage.target.endpoint", endpoint, { loopbackOnly: true });
  const endpoints: AwsProviderEndpoints = Object.fromEntries(STACK_SERVICES.map((s) => [s, endpoint]));
  new AwsProvider(stack, "aws", {
    region: stage.region,
    // Static, well-known emulator keys: not credentials of any real account.
    accessKey: "test",
    secretKey: "test",
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: "true",
    s3UsePathStyle: true,
    // An API the emulator lacks answers 500: without a cap the provider retries ~6 min.
    maxRetries: 2,
    endpoints: [endpoints],
    defaultTags,
  });
}

function configureBackend(stack: TerraformStack, stage: StageConfig): void {
  const b = stage.backend;
  if (b.kind === "local") {
    new LocalBackend(stack, { path: b.path ?? "terraform.tfstate" });
    return;
  }
  new S3Backend(stack, {
    bucket: b.bucket,
    key: b.key,
    region: b.region,
    encrypt: true,
    ...(b.kmsKeyId ? { kmsKeyId: b.kmsKeyId } : {}),
  });
  if (b.useLockfile ?? true) stack.addOverride("terraform.backend.s3.use_lockfile", true);
}
