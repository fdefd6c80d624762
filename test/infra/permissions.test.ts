/**
 * Who may do what, as a table: for dev and prod, every operator command and every call the
 * sender makes (and the pipeline roles' essentials), each a (role, action, resource,
 * context) row with the expected decision, evaluated against the synthesized identity
 * policies, permissions boundaries, key policies and bucket policy by the evaluator in
 * test/support/iam-eval.ts. A lock-out (an allow row denied) or an over-grant (a deny row
 * allowed) fails here. docs/operations.md ("Who may do what") prints the same table.
 */
import { Testing } from "cdktf";
import { PARAMETERS, parameterName, runtimeParameterName } from "../../app/src/contract";
import { BootstrapStack } from "../../modules/bootstrap-stack";
import { DigestStack, senderUserName } from "../../modules/digest-stack";
import { devStage, pipelineNames, prodStage, type StageConfig } from "../../modules/stages";
import { OPERATOR_ACTIONS } from "../../scripts/lib/operator-actions";
import { evaluate, type Context } from "../support/iam-eval";
import { IamWorld } from "../support/iam-world";
import { synthStack } from "../support/tf-json";

type Role = "task" | "operator" | "deployer" | "plan";
interface Row {
  readonly role: Role;
  /** The command or call the row stands for. */
  readonly use: string;
  readonly action: string;
  readonly resource: string;
  readonly context?: Context;
  readonly allowed: boolean;
}

function world(stage: StageConfig): IamWorld {
  const app = Testing.app();
  return new IamWorld(stage, synthStack(new DigestStack(app, { stage })), synthStack(new BootstrapStack(app, { stage })));
}

/** Every row of the table for a stage. */
function table(w: IamWorld): Row[] {
  const s = w.stage;
  const names = pipelineNames(s);
  const root = s.parameterRoot;
  const param = (key: keyof typeof PARAMETERS) => w.arnOf("aws_ssm_parameter", "name", parameterName(root, key));
  const rollback = w.arnOf("aws_ssm_parameter", "name", runtimeParameterName(root, "sesRollback"));
  const rootPath = `arn:aws:ssm:${s.region}:${s.account}:parameter${root}`;
  const paramsKey = w.keyArnByAlias(`${s.stackName}-parameters`);
  const opsKey = w.keyArnByAlias(`${s.stackName}-operations`);
  const stateKey = w.keyArnByAlias(names.stateKeyAlias);
  const table_ = w.arnOf("aws_dynamodb_table", "name", `${s.stackName}-delivery-ledger`);
  const email = w.arnOf("aws_ses_email_identity", "email", s.fromAddress);
  const domain = w.arnOf("aws_sesv2_email_identity", "email_identity", s.domain);
  const configSet = w.arnOf("aws_sesv2_configuration_set", "configuration_set_name", `${s.stackName}-digest`);
  const topic = w.arnOf("aws_sns_topic", "name", `${s.stackName}-alarms`);
  const repo = w.arnOf("aws_ecr_repository", "name", `${s.stackName}-sender`);
  const schedule = (n: string) => `arn:aws:scheduler:${s.region}:${s.account}:schedule/${s.stackName}/${s.stackName}-${n}`;
  const bucket = `arn:aws:s3:::${s.backend.kind === "s3" ? s.backend.bucket : ""}`;
  const stateObject = `${bucket}/${s.backend.kind === "s3" ? s.backend.key : ""}`;
  const via = (service: string) => ({ "kms:ViaService": `${service}.${s.region}.amazonaws.com` });
  const from = { "ses:FromAddress": s.fromAddress };
  const scheduleContext = (n: string) => ({ "kms:EncryptionContext:aws:scheduler:schedule:arn": schedule(n) });
  const senderUser = `arn:aws:iam::${s.account}:user/${senderUserName(s)}`;
  const allow = (role: Role, use: string, action: string, resource: string, context?: Context): Row => ({ role, use, action, resource, context, allowed: true });
  const deny = (role: Role, use: string, action: string, resource: string, context?: Context): Row => ({ role, use, action, resource, context, allowed: false });
  const accessKeys = s.credentialsMode === "access-key";

  return [
    // The sender (task role): every AWS call it makes.
    allow("task", "load config", "ssm:GetParametersByPath", rootPath),
    allow("task", "load config", "kms:Decrypt", paramsKey, via("ssm")),
    allow("task", "rollback: is SendGrid configured?", "ssm:GetParameter", param("sendgridApiKey")),
    allow("task", "rollback: record", "ssm:PutParameter", rollback),
    allow("task", "send (SES)", "ses:SendRawEmail", email, from),
    allow("task", "send (SES)", "ses:SendRawEmail", domain, from),
    allow("task", "send (SES)", "ses:SendRawEmail", configSet, from),
    allow("task", "quota metric", "ses:GetSendQuota", "*"),
    allow("task", "ledger: read", "dynamodb:GetItem", table_),
    allow("task", "ledger: read", "dynamodb:Query", table_),
    allow("task", "ledger: claim and settle", "dynamodb:UpdateItem", table_),
    allow("task", "ledger: table key", "kms:Decrypt", opsKey, via("dynamodb")),
    allow("task", "ledger: table key", "kms:Encrypt", opsKey, via("dynamodb")),
    allow("task", "ledger: table key", "kms:GenerateDataKey", opsKey, via("dynamodb")),
    deny("task", "send as another address", "ses:SendRawEmail", email, { "ses:FromAddress": `someone-else@${s.domain}` }),
    deny("task", "overwrite a secret", "ssm:PutParameter", param("sendgridApiKey")),
    deny("task", "change the rollout", "ssm:PutParameter", param("sesPercent")),
    deny("task", "decrypt outside SSM", "kms:Decrypt", paramsKey),
    deny("task", "use the parameters key via DynamoDB", "kms:Decrypt", paramsKey, via("dynamodb")),
    deny("task", "delete a ledger item", "dynamodb:DeleteItem", table_),
    deny("task", "scan the ledger", "dynamodb:Scan", table_),
    deny("task", "put a ledger item", "dynamodb:PutItem", table_),
    deny("task", "call the CloudWatch API", "cloudwatch:PutMetricData", "*"),
    deny("task", "make access keys", "iam:CreateAccessKey", senderUser),
    deny("task", "read the state", "s3:GetObject", stateObject),

    // The operator: every operator command.
    allow("operator", "secrets put", "ssm:DescribeParameters", "*"),
    allow("operator", "secrets put", "ssm:PutParameter", param("sendgridApiKey")),
    allow("operator", "secrets put", "kms:Encrypt", paramsKey, via("ssm")),
    allow("operator", "secrets put", "kms:GenerateDataKey", paramsKey, via("ssm")),
    allow("operator", "secrets status", "ssm:GetParameters", param("sendgridApiKey")),
    allow("operator", "secrets status", "kms:Decrypt", paramsKey, via("ssm")),
    allow("operator", "digest rollback status", "ssm:GetParameter", rollback),
    allow("operator", "digest rollback clear", "ssm:PutParameter", rollback),
    allow("operator", "digest ledger status", "dynamodb:Query", table_),
    allow("operator", "digest ledger status", "kms:Decrypt", opsKey, via("dynamodb")),
    allow("operator", "digest ledger resend", "dynamodb:UpdateItem", table_),
    allow("operator", "digest ledger resend", "dynamodb:GetItem", table_),
    allow("operator", "digest ledger resend", "kms:Encrypt", opsKey, via("dynamodb")),
    allow("operator", "digest ledger resend", "kms:GenerateDataKey", opsKey, via("dynamodb")),
    allow("operator", "rollout (ses_percent)", "ssm:PutParameter", param("sesPercent")),
    allow("operator", "rollout (use_ses)", "ssm:PutParameter", param("useSes")),
    allow("operator", "doctor: identities", "ses:GetEmailIdentity", domain),
    allow("operator", "doctor: identities", "ses:GetEmailIdentity", email),
    allow("operator", "doctor: production access", "ses:GetAccount", "*"),
    allow("operator", "doctor: secrets", "ssm:GetParametersByPath", rootPath),
    allow("operator", "doctor: alarm subscription", "sns:ListSubscriptionsByTopic", topic),
    allow("operator", "doctor: image", "ecr:DescribeImages", repo),
    allow("operator", "doctor: schedule", "scheduler:GetSchedule", schedule("daily")),
    allow("operator", "doctor: schedule", "scheduler:GetSchedule", schedule("catch-up-1")),
    allow("operator", "doctor: schedule", "kms:Decrypt", opsKey, scheduleContext("daily")),
    (accessKeys ? allow : deny)("operator", "rotate (access-key mode only)", "iam:CreateAccessKey", senderUser),
    (accessKeys ? allow : deny)("operator", "rotate (access-key mode only)", "iam:DeleteAccessKey", senderUser),
    deny("operator", "send mail", "ses:SendRawEmail", email, from),
    deny("operator", "decrypt outside SSM", "kms:Decrypt", paramsKey),
    deny("operator", "use the parameters key via DynamoDB", "kms:Decrypt", paramsKey, via("dynamodb")),
    deny("operator", "delete a secret", "ssm:DeleteParameter", param("sendgridApiKey")),
    deny("operator", "write another hierarchy", "ssm:PutParameter", `arn:aws:ssm:${s.region}:${s.account}:parameter/other/x`),
    deny("operator", "delete a ledger item", "dynamodb:DeleteItem", table_),
    deny("operator", "scan the ledger", "dynamodb:Scan", table_),
    deny("operator", "keys of another user", "iam:CreateAccessKey", `arn:aws:iam::${s.account}:user/admin`),
    deny("operator", "read the state", "s3:GetObject", stateObject),
    deny("operator", "run the task", "ecs:RunTask", `arn:aws:ecs:${s.region}:${s.account}:task-definition/${s.stackName}-sender:1`),

    // The deployer (merge plan and apply) and the plan role (pull-request plans).
    allow("deployer", "refresh SecureStrings", "kms:Decrypt", paramsKey, via("ssm")),
    allow("deployer", "create the placeholders", "kms:Encrypt", paramsKey, via("ssm")),
    allow("deployer", "write encrypted schedules", "kms:Encrypt", opsKey, scheduleContext("daily")),
    allow("deployer", "state", "s3:GetObject", stateObject, { "aws:SecureTransport": "true" }),
    allow("deployer", "state", "s3:PutObject", stateObject, { "aws:SecureTransport": "true" }),
    allow("deployer", "state lock", "s3:PutObject", `${stateObject}.tflock`, { "aws:SecureTransport": "true" }),
    allow("deployer", "state lock", "s3:DeleteObject", `${stateObject}.tflock`, { "aws:SecureTransport": "true" }),
    allow("deployer", "state key", "kms:GenerateDataKey", stateKey, via("s3")),
    allow("deployer", "state key", "kms:Decrypt", stateKey, via("s3")),
    allow("deployer", "create a stage role", "iam:CreateRole", `arn:aws:iam::${s.account}:role/${s.stackName}-task`, { "iam:PermissionsBoundary": names.workloadBoundaryArn }),
    allow("deployer", "attach the operator policy", "iam:PutRolePolicy", names.operatorRoleArn),
    allow("deployer", "manage the VPC", "ec2:CreateNatGateway", "*"),
    deny("deployer", "a role without the workload boundary", "iam:CreateRole", `arn:aws:iam::${s.account}:role/${s.stackName}-task`),
    deny("deployer", "remove a boundary", "iam:DeleteRolePermissionsBoundary", `arn:aws:iam::${s.account}:role/${s.stackName}-task`),
    deny("deployer", "widen itself", "iam:PutRolePolicy", names.deployerRoleArn),
    deny("deployer", "edit its boundary", "iam:CreatePolicyVersion", `arn:aws:iam::${s.account}:policy/${names.deployerBoundaryName}`),
    deny("deployer", "attach a managed policy to the operator", "iam:AttachRolePolicy", names.operatorRoleArn),
    deny("deployer", "make a user", "iam:CreateUser", `arn:aws:iam::${s.account}:user/x`),
    deny("deployer", "decrypt secrets outside SSM", "kms:Decrypt", paramsKey),
    deny("deployer", "read the ledger's recipients", "kms:Decrypt", opsKey, via("dynamodb")),
    deny("deployer", "delete the state key", "kms:ScheduleKeyDeletion", stateKey),
    deny("deployer", "another region", "ec2:CreateVpc", "*", { "aws:RequestedRegion": "eu-west-1" }),
    deny("deployer", "the bootstrap's state", "s3:GetObject", `${bucket}/vibe-digest/bootstrap-${s.name}/terraform.tfstate`, { "aws:SecureTransport": "true" }),
    deny("deployer", "state without TLS", "s3:GetObject", stateObject, { "aws:SecureTransport": "false" }),
    allow("plan", "pull-request plan: state", "s3:GetObject", stateObject, { "aws:SecureTransport": "true" }),
    allow("plan", "pull-request plan: state", "s3:ListBucket", bucket, { "aws:SecureTransport": "true" }),
    allow("plan", "pull-request plan: state key", "kms:Decrypt", stateKey, via("s3")),
    deny("plan", "write the state", "s3:PutObject", stateObject, { "aws:SecureTransport": "true" }),
    deny("plan", "take the lock", "s3:PutObject", `${stateObject}.tflock`, { "aws:SecureTransport": "true" }),
    deny("plan", "decrypt SecureStrings", "kms:Decrypt", paramsKey, via("ssm")),
    deny("plan", "read a parameter", "ssm:GetParameter", param("sendgridApiKey")),
    deny("plan", "change anything", "ec2:CreateVpc", "*"),
  ];
}

function decide(w: IamWorld, row: Row) {
  const names = pipelineNames(w.stage);
  const roleName = { task: `${w.stage.stackName}-task`, operator: names.operatorRoleName, deployer: names.deployerRoleName, plan: names.planRoleName }[row.role];
  const isKey = row.resource.includes(":kms:");
  const account = /^arn:[^:]+:[^:]+:[^:]*:(\d{12}):/.exec(row.resource)?.[1];
  const context: Context = {
    "aws:RequestedRegion": w.stage.region,
    ...(account ? { "aws:ResourceAccount": account } : {}),
    ...(isKey ? { "kms:ResourceAliases": w.aliasesOf(row.resource) } : {}),
    ...row.context,
  };
  const resourcePolicy = isKey ? w.keyPolicy(row.resource) : row.resource.startsWith("arn:aws:s3:::") ? w.bucketPolicy(row.resource.split("/")[0]!) : undefined;
  return evaluate({ principal: w.role(roleName), action: row.action, resource: row.resource, context, resourcePolicy });
}

describe.each([
  ["dev", devStage()],
  ["prod", prodStage()],
  ["dev in access-key mode", { ...devStage(), credentialsMode: "access-key" as const }],
])("permission table: %s", (_name, stage) => {
  const w = world(stage);
  const rows = table(w);

  test.each(rows.map((r) => [r.role, r.allowed ? "may" : "may not", r.action, r.use, r] as const))("when the %s role %s call %s (%s), the policies agree", (_role, _verdict, _action, _use, row) => {
    const d = decide(w, row);
    expect({ allowed: d.allowed, reason: d.reason }).toEqual({ allowed: row.allowed, reason: expect.any(String) });
  });

  test("when the table is built, it covers every operator command and every sender call", () => {
    const uses = new Set(rows.map((r) => r.use.split(":")[0]));
    for (const command of ["secrets put", "secrets status", "digest rollback status", "digest rollback clear", "digest ledger status", "digest ledger resend", "rollout (ses_percent)", "doctor", "rotate (access-key mode only)", "load config", "send (SES)", "quota metric", "ledger", "rollback"]) {
      expect([command, uses.has(command)]).toEqual([command, true]);
    }
  });
});

describe("the operator policy stays within the operator boundary", () => {
  test.each([
    ["dev", devStage()],
    ["prod", prodStage()],
  ])("when %s is synthesized, every action the stage grants its operator is one the boundary allows", (_name, stage) => {
    const w = world(stage);
    const operator = w.role(pipelineNames(stage).operatorRoleName);
    const boundaryActions = new Set(operator.boundary!.filter((s) => (s.effect ?? "Allow") === "Allow").flatMap((s) => s.actions ?? []));
    const granted = [...new Set(operator.identity.flatMap((s) => s.actions ?? []))].sort();
    expect(granted.filter((a) => !boundaryActions.has(a))).toEqual([]);
    expect(granted.length).toBeGreaterThan(10);
  });
});

/**
 * The operations commands' own list of the calls they make (scripts/lib/operator-actions.ts,
 * checked against the calls the command tests record) evaluated against the synthesized
 * operator role: a call the list has and the role denies is an operator locked out of a
 * command the runbook tells them to run.
 */
describe("the operations commands' calls are the operator role's", () => {
  /** Concrete (resource, context) pairs of one OperatorAction for a stage. */
  function expand(w: IamWorld, resource: string): { resource: string; context?: Context }[] {
    const s = w.stage;
    const fill = (t: string) =>
      t.replace(/<region>/g, s.region).replace(/<account>/g, s.account).replace(/<root>/g, s.parameterRoot).replace(/<stack>/g, s.stackName).replace(/<sender-user>/g, senderUserName(s));
    const key = /alias\/<stack>-(parameters|operations)\), via (\w+)\./.exec(resource);
    if (key) return [{ resource: w.keyArnByAlias(`${s.stackName}-${key[1]}`), context: { "kms:ViaService": `${key[2]}.${s.region}.amazonaws.com` } }];
    if (resource === "*") return [{ resource: "*" }];
    return (resource.match(/arn:[^\s,()]+/g) ?? []).map((arn) => ({ resource: fill(arn) }));
  }

  test.each([
    ["dev", devStage()],
    ["prod", prodStage()],
    ["dev in access-key mode", { ...devStage(), credentialsMode: "access-key" as const }],
  ])("when %s is synthesized, the operator role may make every call of rotate and rollout", (_name, stage) => {
    const w = world(stage);
    const denied: string[] = [];
    let checked = 0;
    for (const [command, actions] of Object.entries(OPERATOR_ACTIONS)) {
      // Access-key rotation refuses a task-role stage before any IAM call (exit 2).
      if (command === "rotate access-key" && stage.credentialsMode !== "access-key") continue;
      for (const a of actions.filter((x) => !x.principal)) {
        for (const r of expand(w, a.resource)) {
          checked++;
          const d = decide(w, { role: "operator", use: command, action: a.action, resource: r.resource, context: r.context, allowed: true });
          if (!d.allowed) denied.push(`${command}: ${a.action} on ${r.resource} (${d.reason})`);
        }
      }
    }
    expect(denied).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });
});
