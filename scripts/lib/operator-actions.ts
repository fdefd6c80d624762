/**
 * The IAM actions each operations command calls, on which resources: what an operator role
 * needs for `npm run rotate` and `npm run rollout`. docs/rotation.md and docs/runbook.md
 * print it (generated), and the command tests record every AWS call the commands make and
 * compare them with this table, so it cannot drift from the code.
 *
 * Resources are written with placeholders: <region>, <account>, <root> (the parameter root,
 * /vibecoding), <stack> (vibe-digest-<stage>), <sender-user> (<stack>-sender).
 */

export interface OperatorAction {
  /** IAM action, e.g. "ssm:PutParameter". */
  readonly action: string;
  /** Resource ARN pattern, or "*" where the action has no resource-level permission. */
  readonly resource: string;
  /** When the command makes this call only sometimes. @default - always */
  readonly when?: string;
  /**
   * Whose permission it is when not the operator's (e.g. the rotated key's own user).
   * @default - the operator
   */
  readonly principal?: string;
}

const param = (path: string) => `arn:aws:ssm:<region>:<account>:parameter<root>/${path}`;
const PARAMETERS_KEY = "arn:aws:kms:<region>:<account>:key/<parameters-key-id> (alias/<stack>-parameters), via ssm.<region>.amazonaws.com";
const OPERATIONS_KEY = "arn:aws:kms:<region>:<account>:key/<operations-key-id> (alias/<stack>-operations), via dynamodb.<region>.amazonaws.com";
const LEDGER = "arn:aws:dynamodb:<region>:<account>:table/<stack>-delivery-ledger";
const SENDER_USER = "arn:aws:iam::<account>:user/<sender-user>";

/** Actions per command (the key is the command line after `npm run`). */
export const OPERATOR_ACTIONS: Readonly<Record<string, readonly OperatorAction[]>> = {
  "rotate access-key": [
    { action: "ssm:GetParameters", resource: `${param("aws/access_key_id")}, ${param("aws/secret_access_key")}` },
    { action: "ssm:GetParameter", resource: `${param("aws/secret_access_key")} (with a label selector)` },
    { action: "kms:Decrypt", resource: PARAMETERS_KEY },
    { action: "iam:ListAccessKeys", resource: SENDER_USER },
    { action: "dynamodb:Query", resource: LEDGER, when: "unless --force (the run-in-progress check)" },
    { action: "kms:Decrypt", resource: OPERATIONS_KEY, when: "unless --force" },
    { action: "iam:DeleteAccessKey", resource: SENDER_USER, when: "when the previous rotation left a deactivated key; also to undo a failed rotation" },
    { action: "iam:CreateAccessKey", resource: SENDER_USER },
    { action: "ses:GetSendQuota", resource: "*", principal: "the sender user (the new and the old key verify themselves)" },
    { action: "ssm:LabelParameterVersion", resource: param("aws/secret_access_key") },
    { action: "ssm:DescribeParameters", resource: "*" },
    { action: "ssm:PutParameter", resource: `${param("aws/secret_access_key")}, ${param("aws/access_key_id")}` },
    { action: "kms:Encrypt", resource: PARAMETERS_KEY },
    { action: "iam:UpdateAccessKey", resource: SENDER_USER },
    { action: "ssm:GetParameterHistory", resource: param("aws/secret_access_key") },
    { action: "ssm:UnlabelParameterVersion", resource: param("aws/secret_access_key"), when: "when a label of a deleted key is left" },
  ],
  "rotate sendgrid-key": [
    { action: "ssm:GetParameter", resource: param("sendgrid/api_key") },
    { action: "kms:Decrypt", resource: PARAMETERS_KEY },
    { action: "ssm:DescribeParameters", resource: "*" },
    { action: "ssm:PutParameter", resource: param("sendgrid/api_key") },
    { action: "kms:Encrypt", resource: PARAMETERS_KEY },
  ],
  "rotate unsubscribe-signing-key": [
    { action: "ssm:GetParameter", resource: `${param("email/unsubscribe_signing_key")}, ${param("email/unsubscribe_signing_key_previous")}` },
    { action: "kms:Decrypt", resource: PARAMETERS_KEY },
    { action: "ssm:DescribeParameters", resource: "*" },
    { action: "ssm:PutParameter", resource: `${param("email/unsubscribe_signing_key_previous")} (created on the first rotation), ${param("email/unsubscribe_signing_key")}` },
    { action: "kms:Encrypt", resource: PARAMETERS_KEY },
  ],
  "rollout status": [
    { action: "ssm:GetParameters", resource: `${param("email/use_ses")}, ${param("email/ses_percent")}, ${param("email/ses_rollback")}` },
    { action: "dynamodb:Query", resource: LEDGER },
    { action: "kms:Decrypt", resource: OPERATIONS_KEY },
  ],
  "rollout set": [
    { action: "ssm:GetParameters", resource: `${param("email/use_ses")}, ${param("email/ses_percent")}, ${param("email/ses_rollback")}` },
    { action: "dynamodb:Query", resource: LEDGER },
    { action: "kms:Decrypt", resource: OPERATIONS_KEY },
    { action: "ssm:PutParameter", resource: param("email/ses_percent") },
  ],
  "rollout rollback": [
    { action: "ssm:GetParameter", resource: `${param("email/ses_rollback")}, ${param("sendgrid/api_key")} (decrypted, to tell a real key from the placeholder; never printed)` },
    { action: "kms:Decrypt", resource: PARAMETERS_KEY },
    { action: "ssm:PutParameter", resource: param("email/ses_rollback") },
  ],
  "rollout clear": [
    { action: "ssm:GetParameter", resource: param("email/ses_rollback") },
    { action: "ssm:PutParameter", resource: param("email/ses_rollback") },
  ],
};

/** The IAM action an SDK command is checked against ("ssm" + "GetParametersCommand" -> "ssm:GetParameters"). */
export function iamActionOf(service: string, commandName: string): string {
  return `${service}:${commandName.replace(/Command$/, "")}`;
}

/** Markdown of a resource: ARNs and anything with a <placeholder> as code, the rest as text. */
function resourceMarkdown(resource: string): string {
  return resource.replace(/[^\s,()]*(?:arn:|<|\*)[^\s,()]*/g, (t) => `\`${t}\``).replace(/\|/g, "\\|");
}

/** The Markdown table of `commands` (all by default). */
export function operatorActionsTable(commands: readonly string[] = Object.keys(OPERATOR_ACTIONS)): string {
  const rows = ["| command | action | resource | when |", "| --- | --- | --- | --- |"];
  for (const c of commands) {
    const [name, ...rest] = c.split(" ");
    for (const a of OPERATOR_ACTIONS[c] ?? []) {
      rows.push(`| \`npm run ${name} -- ${rest.join(" ")}\` | \`${a.action}\` | ${resourceMarkdown(a.resource)} | ${[a.when, a.principal && `permission of ${a.principal}`].filter(Boolean).join("; ") || "always"} |`);
    }
  }
  return rows.join("\n");
}
