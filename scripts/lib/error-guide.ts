/**
 * The troubleshooting guide's source: one entry per error code that the sender, the stack's
 * synthesis and the operator commands can print (meaning, likely causes, what to run), and
 * the scan that finds those codes in the code itself. docs/troubleshooting.md is generated
 * from both (`npm run docs`); test/scripts/docs.test.ts fails when a code the scan finds has
 * no entry here, or an entry names a code the code no longer has.
 */
import fs from "node:fs";
import path from "node:path";
import { EXIT } from "../../app/src/cli-kit";

/** What the guide says about one code. */
export interface GuideEntry {
  /** What it means, one or two sentences. */
  readonly meaning: string;
  /** Likely causes, most likely first. */
  readonly causes: readonly string[];
  /** What to run or check, in order. */
  readonly run: readonly string[];
}

/** Where a code comes from, for the guide's sections. */
export type CodeOrigin = "sender" | "ledger" | "command" | "synth";

/** One code found in the code, with every file that can print it. */
export interface FoundCode {
  readonly code: string;
  readonly origins: readonly CodeOrigin[];
  readonly files: readonly string[];
}

/** Source folders the scan reads (tests excluded: their codes are not printed to anyone). */
const SCANNED = ["app/src", "scripts", "modules"];

/** Patterns that name a printed code, with the origin they imply. */
const PATTERNS: readonly { re: RegExp; origin: (file: string) => CodeOrigin }[] = [
  // new CliError("CODE", ...), new ConfigError("CODE", ...), new FeedError("CODE", ...) (also across lines)
  { re: /new \w*Error\(\s*"([A-Z][A-Z0-9_]{2,})"/g, origin: originOfFile },
  // { code: "CODE", ... } objects that become a CliError (e.g. rollout's objections)
  { re: /\bcode: "([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g, origin: originOfFile },
  // error codes the sender writes into a ledger item (digest ledger status prints them)
  { re: /errorCode\]?:[^,;\n]*?"([A-Z][A-Z0-9_]+)"/g, origin: () => "ledger" },
  { re: /errorCode\]: \{ S: "([A-Z][A-Z0-9_]+)" \}/g, origin: () => "ledger" },
];

function originOfFile(file: string): CodeOrigin {
  if (file.startsWith("modules/")) return "synth";
  if (file.startsWith("scripts/") || file.endsWith("cli-kit.ts")) return "command";
  return "sender";
}

/** The members of `export type <name> = | "A" | "B";` in `text`. */
export function unionMembers(text: string, typeName: string): string[] {
  const m = new RegExp(`export type ${typeName} =([^;]*);`).exec(text);
  if (!m) throw new Error(`no union type ${typeName}`);
  return [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "sample-feeds" ? [] : walk(p);
    return /\.(ts|mjs)$/.test(e.name) ? [p] : [];
  });
}

/**
 * Every error code the project can print: the sender's ErrorCode union (app/src/errors.ts),
 * the synth's ConfigErrorCode union (modules/errors.ts), and each code a source file
 * constructs an error with, puts in a `{ code }` result or writes into a ledger item.
 */
export function collectErrorCodes(root: string): FoundCode[] {
  const found = new Map<string, { origins: Set<CodeOrigin>; files: Set<string> }>();
  const add = (code: string, origin: CodeOrigin, file: string) => {
    const f = found.get(code) ?? { origins: new Set(), files: new Set() };
    f.origins.add(origin);
    f.files.add(file);
    found.set(code, f);
  };
  const errorsTs = "app/src/errors.ts";
  for (const c of unionMembers(fs.readFileSync(path.join(root, errorsTs), "utf8"), "ErrorCode")) add(c, "sender", errorsTs);
  const configErrorsTs = "modules/errors.ts";
  for (const c of unionMembers(fs.readFileSync(path.join(root, configErrorsTs), "utf8"), "ConfigErrorCode")) add(c, "synth", configErrorsTs);
  for (const dir of SCANNED) {
    for (const abs of walk(path.join(root, dir))) {
      const file = path.relative(root, abs).split(path.sep).join("/");
      if (file === "scripts/lib/error-guide.ts") continue;
      const text = fs.readFileSync(abs, "utf8");
      for (const { re, origin } of PATTERNS) for (const m of text.matchAll(re)) add(m[1]!, origin(file), file);
    }
  }
  const order: CodeOrigin[] = ["sender", "ledger", "command", "synth"];
  return [...found]
    .map(([code, f]) => ({ code, origins: order.filter((o) => f.origins.has(o)), files: [...f.files].sort() }))
    .sort((a, b) => order.indexOf(a.origins[0]!) - order.indexOf(b.origins[0]!) || a.code.localeCompare(b.code));
}

const STATUS = "npm run rollout -- status --stage <stage>";
const LEDGER = "npm run digest -- ledger status";
const SECRETS = "npm run secrets -- status --stage <stage>";
const PLAN = "npm run infra -- plan --stage <stage>";
const WHOAMI = "aws sts get-caller-identity (which identity you run as)";
const RESEND = "npm run digest -- ledger resend --date <today> --recipient <address> (only once the provider shows it was not delivered)";
const FEED_CHECK = "curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\\n' <feed url> from a machine with the stage's egress";

/** The guide: every code the scan finds must have an entry (and no entry may outlive its code). */
export const ERROR_GUIDE: Readonly<Record<string, GuideEntry>> = {
  // --- the sender (app/src/errors.ts) -----------------------------------------------------
  CONFIG_MISSING: {
    meaning: "A parameter the run needs is absent or still holds the placeholder `unset`; the message names it. The run stops with exit 2 before sending anything.",
    causes: [
      "the secret was never put after the deploy (the stack writes only placeholders)",
      "only one of `aws/access_key_id` / `aws/secret_access_key` holds a real value",
      "`VIBE_PARAMETER_ROOT` or `AWS_REGION` points at another hierarchy or region than the stack's",
    ],
    run: [SECRETS, "npm run secrets -- put <name> --stage <stage> (value on stdin), or npm run rotate -- access-key --stage local for the key pair", "npm run doctor -- --stage <stage> (every SecureString set)", PLAN],
  },
  CONFIG_INVALID: {
    meaning: "A parameter or environment variable is present but its value breaks the rule the stack and the sender share (app/src/validation.ts); the message names it and what was expected, never the value. Exit 2.",
    causes: ["a value edited by hand in Parameter Store (e.g. `ses_percent` written as `25%`)", "`EMAIL_TO` or another variable with a malformed value", "a signing key shorter than 32 characters or with whitespace"],
    run: ["fix the named value: npm run rollout -- set <percent> --stage <stage> for ses_percent, npm run secrets -- put <name> --stage <stage> for secrets, aws ssm put-parameter --overwrite for the others", SECRETS],
  },
  AWS_ACCESS_DENIED: {
    meaning: "IAM, a KMS key policy or an SCP refused a call. In the sender, Parameter Store or its key denying access at config load is a rollback trigger (everything goes through SendGrid until cleared). In a command, it is your identity that lacks the permission (exit 2).",
    causes: [
      "the command runs as an identity without the operator permissions (wrong profile, expired role session)",
      "the stack drifted: the task role or a key policy changed outside Terraform",
      "a KMS key the parameters or the ledger are encrypted with is disabled or pending deletion",
    ],
    run: [WHOAMI, PLAN + " (a drift shows as a change)", "docs/operations.md, who may do what: which role runs which command", STATUS + " (was the rollback triggered?)"],
  },
  AWS_PARAMETER_NOT_FOUND: {
    meaning: "A parameter the call named does not exist (SSM ParameterNotFound).",
    causes: ["the stage is not deployed in this account or region", "`VIBE_PARAMETER_ROOT` / `AWS_REGION` name another hierarchy or region"],
    run: ["check AWS_REGION and VIBE_PARAMETER_ROOT", PLAN, SECRETS],
  },
  AWS_INVALID_VALUE: {
    meaning: "AWS rejected a value in the request as invalid (ValidationException, InvalidParameterValue, InvalidKeyId).",
    causes: ["the parameters' KMS key is disabled or was replaced", "a name or value outside AWS's limits (e.g. a parameter over 4 KB)"],
    run: ["aws kms describe-key --key-id alias/<stack>-parameters (KeyState)", PLAN],
  },
  AWS_THROTTLED: {
    meaning: "AWS asked the caller to slow down. The sender retries with backoff; a send still throttled after its retries fails for that recipient and the 09:00 catch-up retries it.",
    causes: ["sending faster than the account's SES MaxSendRate", "two runs at once", "a burst of Parameter Store or DynamoDB calls"],
    run: ["aws ses get-send-quota (MaxSendRate)", "set VIBE_MAX_SEND_RATE on the task below that rate", LEDGER],
  },
  AWS_CREDENTIALS_INVALID: {
    meaning: "AWS did not accept the credentials: an unknown or deleted access key, a secret that does not belong to the key id, or an expired session. A command exits 2.",
    causes: [
      "your session expired (SSO, assumed role) or AWS_PROFILE names the wrong account",
      "in the access-key mode: the stored key was deleted or deactivated, or a pair was put by hand with a wrong secret",
      "the machine's clock is off by more than 5 minutes (signatures expire)",
    ],
    run: [WHOAMI, "aws sso login (or refresh the role session)", "access-key stages: npm run rotate -- access-key --stage local (creates, verifies and stores a working pair)"],
  },
  AWS_CREDENTIALS_MISSING: {
    meaning: "No credentials were found anywhere in the SDK's chain (environment, profile, SSO, container or instance role). Not the same as rejected credentials. Exit 2.",
    causes: ["a new shell without AWS_PROFILE", "for the local stage: .local/env.sh not sourced"],
    run: ["export AWS_PROFILE=<profile> (or aws sso login)", "local: source .local/env.sh (written by npm run local -- --keep)"],
  },
  AWS_UNAVAILABLE: {
    meaning: "AWS answered with a 5xx or the connection failed before an answer; retrying later may work. A send that may have reached SES is recorded `unknown`, never resent automatically.",
    causes: ["an AWS service event", "a VPC endpoint or DNS problem in the task's network", "locally: the moto server of `npm run local -- --keep` is not running"],
    run: ["the AWS Health Dashboard for the region", LEDGER + " (any `unknown` recipients?)", "local: is npm run local -- --keep still running?"],
  },
  AWS_ERROR: {
    meaning: "An AWS error with no more specific code here; the message keeps the AWS error code and the request id (never the message text, which may echo input).",
    causes: ["an error code this project does not classify (see the code in the message)"],
    run: ["look the AWS code up in the service's API reference", "CloudTrail: the event with the request id in the message"],
  },
  SES_SENDING_PAUSED: {
    meaning: "SES has paused sending for the account or the configuration set. The sender stops using SES and records the automatic rollback (SendGrid from then on, until cleared).",
    causes: ["AWS paused the account after bounce or complaint rates above its review levels", "someone disabled sending on the account or the configuration set"],
    run: ["aws sesv2 get-account (SendingEnabled, EnforcementStatus)", "the SES console's Reputation metrics", "once SES sends again: " + STATUS + ", then npm run rollout -- clear --stage <stage>"],
  },
  SES_SENDER_NOT_VERIFIED: {
    meaning: "SES refused the From identity or the MAIL FROM domain as not verified in this region, or (in the sandbox) the recipient is not verified either.",
    causes: ["the domain's DKIM CNAMEs or MAIL FROM records are missing or not yet propagated", "the account is still in the SES sandbox and the recipient is not a verified identity", "the stack was deployed to another region than the identity's"],
    run: ["npm run doctor -- --stage <stage> (identity, DKIM, production access)", "aws sesv2 get-email-identity --email-identity <domain> (VerifiedForSendingStatus, DkimAttributes.Status)", "docs/ses-setup.md (DNS records, leaving the sandbox)"],
  },
  SES_MESSAGE_REJECTED: {
    meaning: "SES rejected this message for a reason other than verification or a pause; the recipient is `failed` and the next run retries it.",
    causes: ["the raw message is over SES's size limit", "the address is on the account-level suppression list", "content SES refuses (e.g. a virus signature)"],
    run: ["aws sesv2 get-suppressed-destination --email-address <address>", LEDGER],
  },
  SES_CONFIGURATION_SET_MISSING: {
    meaning: "`email/configuration_set` names a configuration set that does not exist in the region.",
    causes: ["the set was deleted or never deployed (the local stage leaves it out)", "a value edited by hand"],
    run: ["aws sesv2 get-configuration-set --configuration-set-name <name>", PLAN],
  },
  SES_QUOTA_EXCEEDED: {
    meaning: "The account's 24-hour SES sending quota is used up; the remaining recipients fail and are retried by the next run.",
    causes: ["a sandbox account (200 messages a day)", "a recipient list that outgrew the quota", "other senders on the same account"],
    run: ["aws ses get-send-quota", "request a higher quota (docs/ses-setup.md, quotas)"],
  },
  FEED_HTTP_STATUS: {
    meaning: "A feed answered with an HTTP status other than success; the digest goes on without it.",
    causes: ["the feed moved or is down", "the feed host blocks the task's egress address"],
    run: [FEED_CHECK, "update the stage's feed list in modules/stages.ts (a reviewed change)"],
  },
  FEED_TIMEOUT: {
    meaning: "A feed did not answer in time; the digest goes on without it.",
    causes: ["the feed host is slow or down", "the task's egress (NAT, DNS firewall) does not reach it"],
    run: [FEED_CHECK],
  },
  FEED_TOO_LARGE: {
    meaning: "A feed's body was over the size limit; the digest goes on without it.",
    causes: ["the feed publishes full archives instead of recent items", "the URL points at something that is not a feed"],
    run: [FEED_CHECK, "use the feed's smaller variant, or drop it from modules/stages.ts"],
  },
  FEED_PARSE_FAILED: {
    meaning: "A feed's body is not a feed the parser could read (RSS, Atom or JSON Feed); the digest goes on without it.",
    causes: ["the URL now serves an HTML page (a login wall, an error page)", "malformed XML or JSON"],
    run: [FEED_CHECK, "open the URL and check its content type and first lines"],
  },
  FEED_FETCH_FAILED: {
    meaning: "A feed could not be fetched at all (DNS, connection, TLS, a refused redirect); the digest goes on without it.",
    causes: ["DNS or egress does not reach the host", "a redirect to a host outside the allow-list", "a TLS certificate problem at the host"],
    run: [FEED_CHECK, "check digest/feed_hosts (the allow-list) against the feed's redirects"],
  },
  FEED_HOST_NOT_ALLOWED: {
    meaning: "A feed URL or one of its redirects names a host that the allow-list `digest/feed_hosts` does not match (docs/feeds.md); the feed is not fetched and the digest goes on without it.",
    causes: ["the feed moved to another host (a redirect to a new domain)", "a feed added to digest/feeds by hand, not through the stage data that writes both lists"],
    run: [FEED_CHECK + " (add -L to see where it redirects)", "a redirect target: add it to the stage's extraFeedHosts in modules/stages.ts with its reason (it joins digest/feed_hosts and the DNS firewall's list); plan, review, deploy"],
  },
  FEED_ADDRESS_REFUSED: {
    meaning: "A feed URL or one of its redirects is, or resolves to, a special-purpose address (metadata, loopback, private, link-local, CGNAT ...) that `digest/feed_hosts` does not name as an IP literal; the feed is not fetched and the digest goes on without it.",
    causes: ["the feed host's DNS now points into a private range", "a redirect to an internal or metadata address"],
    run: ["dig +short <feed host> (what it resolves to)", "only the local stage names such a literal (127.0.0.1); on a real stage, drop or fix the feed"],
  },
  FEED_REDIRECT_INVALID: {
    meaning: "A feed redirected without a usable Location, or to a URL that is not http(s) or carries credentials; the digest goes on without it.",
    causes: ["a misconfigured feed server", "a redirect to a login page"],
    run: [FEED_CHECK + " (add -L to see the chain)"],
  },
  FEED_REDIRECT_LOOP: {
    meaning: "A feed's redirects lead back to a URL already visited; the digest goes on without it.",
    causes: ["a feed server misconfiguration (http and https, or www and the apex, redirecting to each other)"],
    run: [FEED_CHECK + " (add -L --max-redirs 6 to see the chain)", "use the final URL in the stage's feed list"],
  },
  FEED_TOO_MANY_REDIRECTS: {
    meaning: "A feed redirected more than 5 times; the digest goes on without it.",
    causes: ["a long redirect chain after a site move"],
    run: [FEED_CHECK + " (add -L to see the chain)", "use the final URL in the stage's feed list"],
  },
  DELIVERY_FAILED: {
    meaning: "A provider answered something unexpected for this recipient (e.g. an accepted send without a message id); it is `failed` or `unknown` in the ledger.",
    causes: ["a provider-side anomaly", "a proxy between the task and the provider"],
    run: [LEDGER, "the provider's logs for that recipient and time"],
  },
  DELIVERY_SETUP_FAILED: {
    meaning: "A provider could not even be set up for this send (reloading the config that holds its credentials failed), so no request was made; `causeCode` names the failure underneath.",
    causes: ["Parameter Store or its key failing mid-run (see the causeCode's own entry)"],
    run: ["the entry of the causeCode in the run's log", LEDGER],
  },
  SES_ROLLED_BACK: {
    meaning: "The SES rollback is in force and the stage has no SendGrid key to fall back to, so the recipient was not attempted.",
    causes: ["the rollback was triggered (or forced) on a stage without SendGrid, e.g. dev"],
    run: [STATUS + " (why it is in force)", "fix SES, then npm run rollout -- clear --stage <stage>"],
  },
  SENDGRID_NOT_CONFIGURED: {
    meaning: "This recipient needed SendGrid (its share, a rollback or a fallback from SES) but `sendgrid/api_key` holds no real key; it was not attempted.",
    causes: ["the SendGrid key was removed while ses_percent is below 100 or use_ses is false", "a rollback in force after the migration"],
    run: [STATUS, "printf %s \"$KEY\" | npm run secrets -- put sendgrid/api_key --stage <stage>, or npm run rollout -- set 100 --stage <stage>"],
  },
  SENDGRID_UNAUTHORIZED: {
    meaning: "SendGrid answered 401: the API key is missing, invalid, expired or revoked. Nothing was sent.",
    causes: ["the key was revoked in SendGrid before the stored one was replaced", "a typo when the key was put"],
    run: ["printf %s \"$NEW_KEY\" | npm run rotate -- sendgrid-key --stage <stage> (checks the key with SendGrid first)"],
  },
  SENDGRID_FORBIDDEN: {
    meaning: "SendGrid answered 403: the From address is not a verified sender, the key lacks mail.send, or the account is blocked. Nothing was sent.",
    causes: ["sender authentication in SendGrid not done for the From address", "a restricted key without Mail Send access"],
    run: ["SendGrid console: Sender Authentication", "rotate to a key with mail.send: npm run rotate -- sendgrid-key --stage <stage>"],
  },
  SENDGRID_REJECTED: {
    meaning: "SendGrid answered 400: it refused the request as invalid; `fields` names the fields (never their values). Nothing was sent.",
    causes: ["an address SendGrid's syntax check refuses", "a header SendGrid reserves"],
    run: ["the `fields` of the error in the run's log", LEDGER],
  },
  SENDGRID_THROTTLED: {
    meaning: "SendGrid answered 429; the sender waits until its rate-limit reset and retries.",
    causes: ["a large list at the account's rate limit", "other senders on the same SendGrid account"],
    run: ["nothing if the run completes; otherwise lower the rate or raise the SendGrid plan's limit"],
  },
  SENDGRID_UNAVAILABLE: {
    meaning: "SendGrid answered with a 5xx: it may or may not have queued the message, so the recipient is `unknown` and never resent automatically.",
    causes: ["a SendGrid incident"],
    run: ["SendGrid's status page and its Activity feed for the recipient", LEDGER, RESEND],
  },
  SENDGRID_TIMEOUT: {
    meaning: "SendGrid did not answer in time. If the request had been written, the outcome is unknown (`unknown`); if the connection never opened, nothing was sent (`failed`).",
    causes: ["egress to api.sendgrid.com is slow or blocked", "a SendGrid incident"],
    run: ["check the stage's egress to the SendGrid host", "SendGrid's Activity feed", RESEND],
  },
  SENDGRID_NETWORK: {
    meaning: "The connection to SendGrid failed (DNS, refused, reset). Before the request was written nothing was sent; after, the outcome is unknown.",
    causes: ["the SendGrid host missing from the egress allow-list", "locally: VIBE_SENDGRID_BASE_URL points at an emulator that is not running"],
    run: ["check egress and DNS to the SendGrid host", "local: source .local/env.sh of a running npm run local -- --keep"],
  },
  LEDGER_UNAVAILABLE: {
    meaning: "The delivery ledger could not be read or written, so the recipient was not attempted (exactly once comes first); the catch-up run retries.",
    causes: ["VIBE_LEDGER_TABLE names a table that does not exist in the region", "DynamoDB throttling or an outage", "the operations KMS key is disabled"],
    run: ["aws dynamodb describe-table --table-name <stack>-delivery-ledger", PLAN, LEDGER],
  },
  LEDGER_CLAIM_LOST: {
    meaning: "This run's claim on a recipient expired and another run took it over before this one sent; not sent by this run (the other one settles it).",
    causes: ["a run stalled longer than the 10-minute lease", "two runs of the same digest at once"],
    run: [LEDGER],
  },
  USAGE: {
    meaning: "The command line was wrong: an unknown option, a missing or extra argument, or a value out of range. Exit 64; nothing ran.",
    causes: ["a typo (the message suggests the right option)", "a missing --stage (no command defaults to a stage)"],
    run: ["the command with --help"],
  },

  // --- codes in a ledger item (npm run digest -- ledger status prints them) ---------------
  LEDGER_STALE_SENDING: {
    meaning: "A run claimed this recipient, started the provider request and never recorded the outcome (the task died mid-send); the item became `unknown` and is not resent automatically.",
    causes: ["the task was killed (out of memory, SIGKILL, a lost host) while sending"],
    run: ["the provider: SES message events or SendGrid's Activity feed for the recipient", RESEND],
  },
  OPERATOR_RESEND: {
    meaning: "An operator marked this recipient for sending again (`digest ledger resend`); the next run of the same digest date sends it.",
    causes: ["an `unknown` or `failed` recipient the operator checked and found undelivered"],
    run: ["the 09:00 catch-up, or npm run digest -- run the same day"],
  },
  INTERRUPTED: {
    meaning: "The run was stopped (SIGTERM, Ctrl-C) before this work finished. A recipient not yet sent is `failed` and retried by the next run; `npm run local` exits 143.",
    causes: ["ECS stopped the task (a deploy, a scale-in, the stop timeout)", "Ctrl-C"],
    run: [LEDGER, "the next run or the 09:00 catch-up sends what is left"],
  },

  // --- the operator commands and the CLI kit ---------------------------------------------
  AWS_REGION_MISSING: {
    meaning: "No AWS region was found for the command. Exit 2.",
    causes: ["AWS_REGION, AWS_DEFAULT_REGION and the profile's region all unset"],
    run: ["export AWS_REGION=us-east-1 (or the stage's region)"],
  },
  NETWORK: {
    meaning: "A command could not reach the AWS endpoint (connection refused, DNS, reset, timeout).",
    causes: ["AWS_ENDPOINT_URL points at a moto that is not running", "no network to AWS from this machine"],
    run: ["local: is npm run local -- --keep still running? source its .local/env.sh again", "echo $AWS_ENDPOINT_URL"],
  },
  INTERNAL: {
    meaning: "Something unexpected: the message names the error's class and first line. Exit 3.",
    causes: ["a bug", "a failure the command has no better code for"],
    run: ["read the message: it names the error and often what to run", "rerun with --json and keep the output for a bug report"],
  },
  DEPLOY_REFUSED: {
    meaning: "`npm run infra -- deploy` refused: there is no reviewed plan for the stage, the plan is an offline one, or the plan or the synthesized configuration changed since it was made. Nothing was applied.",
    causes: ["deploy run without a plan, or after a new synth"],
    run: ["npm run infra -- plan --stage <stage>, review the plan's summary, then npm run infra -- deploy --stage <stage>"],
  },
  TERRAFORM_FAILED: {
    meaning: "terraform failed during init, plan or apply; its own message comes with it.",
    causes: ["credentials of another account (the provider allows only the stage's)", "a resource AWS refused (a quota, a name already taken)", "the state lock held by another run"],
    run: [WHOAMI, "read terraform's message; release a lock only when no other run is alive"],
  },
  LOCAL_BUSY: {
    meaning: "Another `npm run local` holds the work folder's lock (its PID is in the message).",
    causes: ["a kept local stack still running in another terminal"],
    run: ["stop it (Ctrl-C in its terminal, or kill <pid>)", "or npm run local -- --work-dir <other folder>"],
  },
  STAGE_ENV_MISMATCH: {
    meaning: "The environment belongs to another stage than --stage (VIBE_STAGE says another, or AWS_ENDPOINT_URL is set for a real stage): the command refuses before any AWS call. Exit 2.",
    causes: ["a shell that sourced .local/env.sh, then a --stage prod command"],
    run: ["open a fresh shell (or unset the variables .local/env.sh exports) to act on dev or prod"],
  },
  STAGE_ENV_INVALID: {
    meaning: "An environment variable of the local stage holds a value that cannot be right (it is named), or one the command needs is missing. Exit 2.",
    causes: ["a hand-edited .local/env.sh", "VIBE_SENDGRID_BASE_URL not exported (no kept local stack)"],
    run: ["source .local/env.sh of a running npm run local -- --keep"],
  },
  ROTATE_WRONG_MODE: {
    meaning: "`rotate access-key` on a stage whose sender uses the ECS task role: it stores no access key. Exit 2.",
    causes: ["dev and prod run in the task-role mode (modules/stages.ts, credentialsMode)"],
    run: ["nothing: the task role's credentials are temporary and rotated by AWS"],
  },
  ROTATE_NOT_DEPLOYED: {
    meaning: "The parameter the rotation writes does not exist on this stage (or has no KMS key). Exit 2; nothing changed.",
    causes: ["the stage is not deployed", "the stage does not use that credential (no SendGrid key, no https unsubscribe target)"],
    run: [PLAN, SECRETS],
  },
  ROTATE_NO_SENDER_USER: {
    meaning: "The IAM user whose key the sender stores does not exist. Exit 2; nothing changed.",
    causes: ["the local stack was not set up by npm run local (which creates <stack>-sender)", "VIBE_SENDER_USER names another user"],
    run: ["aws iam list-users", "set VIBE_SENDER_USER to the user that owns the stored key"],
  },
  ROTATE_KEY_NOT_OWNED: {
    meaning: "The stored access key is not a key of the sender user the rotation would change. Exit 2; nothing changed.",
    causes: ["VIBE_SENDER_USER names another user", "a pair of another user was put by hand"],
    run: ["aws iam get-access-key-last-used --access-key-id <stored id> (shows its user)", "set VIBE_SENDER_USER accordingly"],
  },
  ROTATE_UNKNOWN_ACTIVE_KEY: {
    meaning: "The sender user has another active key besides the stored one. IAM allows two keys per user, and an active one may be in use somewhere, so the rotation will not touch it. Nothing changed.",
    causes: ["a key created by hand", "an earlier rotation whose deactivation failed (ROTATE_INCOMPLETE)"],
    run: ["aws iam list-access-keys --user-name <user>", "aws iam get-access-key-last-used --access-key-id <id>", "aws iam update-access-key --user-name <user> --access-key-id <id> --status Inactive, then rotate again"],
  },
  ROTATE_RUN_IN_PROGRESS: {
    meaning: "Today's ledger shows a run holding live claims: deactivating the old key now would fail its remaining sends. Nothing changed.",
    causes: ["the 07:00 or 09:00 run (or a manual one) is sending"],
    run: [LEDGER, "rotate again when it is done (--force skips the check)"],
  },
  ROTATE_STEP_FAILED: {
    meaning: "A step of the rotation failed; the steps before it were undone (the message lists the step, the AWS code and request id), and the old credential is the one in use.",
    causes: ["a missing permission for one step (see the IAM table in docs/rotation.md)", "a transient AWS error"],
    run: ["fix the cause named in the message, then run the same rotate command again"],
  },
  ROTATE_VERIFY_FAILED: {
    meaning: "The new credential did not pass its check (SES GetSendQuota for an access key, GET /v3/scopes with mail.send for a SendGrid key, both old and new links for the signing key); nothing the sender uses was changed (or it was undone).",
    causes: ["a SendGrid key that is wrong or lacks mail.send", "IAM had not yet accepted the new key after about 40 s of retries", "the sender user's policy lacks ses:GetSendQuota"],
    run: ["check the new credential, then run the rotation again"],
  },
  ROTATE_UNDO_FAILED: {
    meaning: "A step failed and undoing an earlier step failed too: the message says which, and what the sender reads now.",
    causes: ["the same AWS failure hitting the undo", "a lost connection"],
    run: ["do the named undo by hand (the message gives the parameter or key), then " + SECRETS, "rotate again"],
  },
  ROTATE_INCOMPLETE: {
    meaning: "The new access key is stored, verified and in use, but the old key could not be deactivated: it is still active.",
    causes: ["a missing iam:UpdateAccessKey permission", "a transient IAM error"],
    run: ["aws iam update-access-key --user-name <user> --status Inactive --access-key-id <old id> (the hint names the user and the id's last 4 characters)"],
  },
  ROTATE_CONCURRENT_CHANGE: {
    meaning: "After writing, the stored value was not the one the rotation wrote: another change raced it. The rotation's writes were undone.",
    causes: ["two operators rotating at once", "someone running `secrets put` during the rotation"],
    run: [SECRETS, "rotate again, alone"],
  },
  ROTATE_VALUE_INVALID: {
    meaning: "The value piped in breaks the rule the sender and `secrets put` apply to it (app/src/validation.ts: a SendGrid key is 1 to 1024 printable ASCII characters without spaces or line breaks) or is over 4 KB. Exit 2; nothing changed.",
    causes: ["an empty pipe, or a value with a space or an inner newline", "the placeholder `unset`"],
    run: ["printf %s \"$KEY\" | npm run rotate -- sendgrid-key --stage <stage> (printf, not echo with a trailing space)"],
  },
  ROTATE_SAME_VALUE: {
    meaning: "The new SendGrid key is the one already stored: nothing to rotate.",
    causes: ["the old key piped in by mistake"],
    run: ["pipe the new key"],
  },
  ROTATE_GRACE_ACTIVE: {
    meaning: "The signing key before the current one is still accepted (its grace period runs); rotating again now would stop accepting links signed with it. Nothing changed.",
    causes: ["two signing key rotations within the grace period"],
    run: ["wait until the date in the message, or rotate with --force to cut the grace short"],
  },
  ROLLOUT_STEP_REFUSED: {
    meaning: "`rollout set` asked for a share the runbook does not allow from here: not one of its steps, or more than one step up. Nothing was written.",
    causes: ["skipping a step (e.g. 10 -> 50)", "a share that is not a step (e.g. 30)"],
    run: [STATUS + " (shows the next step)", "docs/runbook.md; --force writes it anyway"],
  },
  ROLLOUT_GATE_NOT_MET: {
    meaning: "The measured gate before the next step is not met (the message lists why): too few days of SES data, SES failing more than SendGrid (or above 5%), or SES's p95 latency too far above SendGrid's. Nothing was written.",
    causes: ["the current step has not run long enough", "a real difference between the providers"],
    run: [STATUS, "docs/runbook.md (the gate)"],
  },
  ROLLOUT_ROLLED_BACK: {
    meaning: "A rollback is in force, so raising the SES share would change nothing until it is cleared. Nothing was written.",
    causes: ["the automatic rollback fired, or an operator forced one"],
    run: [STATUS + " (why)", "npm run rollout -- clear --stage <stage> once SES is healthy"],
  },
  ROLLOUT_NO_FALLBACK: {
    meaning: "`rollout rollback` on a stage without a SendGrid key: with the rollback in force, its runs would send nothing at all. Nothing was written.",
    causes: ["dev (SES only), or prod after the migration removed SendGrid"],
    run: ["put the SendGrid key first, or --force to stop all sending on purpose"],
  },
  DOCS_STALE: {
    meaning: "`npm run docs -- --check` found a generated document that differs from what the code generates now.",
    causes: ["a change to the stack, the error codes or the state tables without regenerating the docs"],
    run: ["npm run docs, review the diff, commit it"],
  },
  PLAN_INVALID: {
    meaning: "`npm run plan:summary` was given something that is not a Terraform plan it can read (a missing file, a state file, JSON that is not a plan, a plan file terraform cannot show there), or a --config that is not JSON. Exit 2.",
    causes: ["the JSON of a state (`terraform show -json` without a plan file) or the state file itself", "a binary plan file given outside the folder where its stack is initialized"],
    run: ["terraform show -json <plan file> > plan.json, then npm run plan:summary -- plan.json", "or run it with --chdir <the stack's folder>"],
  },
  OUT_UNWRITABLE: {
    meaning: "`npm run plan:summary` could not write the Markdown review to the --out file. Exit 2.",
    causes: ["the folder does not exist or is read-only"],
    run: ["give --out a writable path"],
  },
  NOT_SECURE_STRING: {
    meaning: "`secrets put` (or `secrets status`, as insecure) found the parameter stored as a plain String or StringList: a secret kept unencrypted. Nothing was written.",
    causes: ["the parameter was created by hand, not by the stack"],
    run: ["aws ssm delete-parameter --name <name>, deploy so the stack declares it as a SecureString, then put the value"],
  },
  CHROMIUM_MISSING: {
    meaning: "`npm run screenshots` could not start Chromium. Exit 2.",
    causes: ["Chromium is not installed", "VIBE_CHROMIUM names a binary that does not exist"],
    run: ["apt-get install -y chromium (Debian), or set VIBE_CHROMIUM"],
  },
  CHROMIUM_FAILED: {
    meaning: "`npm run screenshots`: Chromium exited with an error while taking a screenshot.",
    causes: ["headless Chromium cannot run on this machine (sandbox, shared memory)"],
    run: ["run the command again with --json and read Chromium's exit code"],
  },
  UNKNOWN_SECRET: {
    meaning: "`secrets put` was given a name that is not a secret parameter (the message lists the known ones).",
    causes: ["a typo, or a plain parameter such as email/from_address"],
    run: [SECRETS],
  },
  EMPTY_VALUE: {
    meaning: "`secrets put` refused an empty value or one the sender reads as not set (`unset`, `none`, `-`), or one over 4 KB.",
    causes: ["an empty pipe (the variable was not set)"],
    run: ["printf %s \"$VALUE\" | npm run secrets -- put <name> --stage <stage>"],
  },
  NOT_DEPLOYED: {
    meaning: "`secrets put` found no such parameter (or no KMS key on it): the stack declares it on deploy.",
    causes: ["the stage is not deployed", "the stage does not declare that secret"],
    run: [PLAN],
  },

  // --- synthesis of the stack (modules/errors.ts ConfigError) -----------------------------
  PARAMETER_ROOT_INVALID: {
    meaning: "Synth: the stage's parameter root is not an absolute SSM path. The message names the construct and the bound.",
    causes: ["a stage edit in modules/stages.ts"],
    run: ["fix parameterRoot in modules/stages.ts", "npm run synth"],
  },
  EMAIL_ADDRESS_INVALID: {
    meaning: "Synth: a From, recipient or alarm address in the stage data is not an email address.",
    causes: ["a stage edit in modules/stages.ts"],
    run: ["fix the address in modules/stages.ts", "npm run synth"],
  },
  DOMAIN_INVALID: {
    meaning: "Synth: the sending domain is not a DNS name, or the From address is not in it.",
    causes: ["a stage edit in modules/stages.ts"],
    run: ["fix domain/fromAddress in modules/stages.ts", "npm run synth"],
  },
  REGION_INVALID: {
    meaning: "Synth: a region in the stage data is not an AWS region name.",
    causes: ["a typo in modules/stages.ts"],
    run: ["fix it", "npm run synth"],
  },
  PERCENT_OUT_OF_RANGE: {
    meaning: "Synth: the stage's sesPercent is not an integer from 0 to 100.",
    causes: ["a stage edit in modules/stages.ts"],
    run: ["set one of the runbook's steps (docs/runbook.md)", "npm run synth"],
  },
  FEEDS_INVALID: {
    meaning: "Synth: the stage's feed list breaks the shared feed rule (1-200 feeds, http(s) URLs without user info, names).",
    causes: ["a feed URL with credentials or another scheme", "an empty list"],
    run: ["fix feeds in modules/stages.ts", "npm run synth"],
  },
  URL_INVALID: {
    meaning: "Synth: a URL in the stage data (e.g. the unsubscribe target) breaks its rule.",
    causes: ["an http (not https) unsubscribe URL, or a URL with user info"],
    run: ["fix it in modules/stages.ts", "npm run synth"],
  },
  SECRET_VALUE_REJECTED: {
    meaning: "Synth: a secret value was passed to the stack; secrets are put by the operator (`npm run secrets`, `npm run rotate`), never through Terraform.",
    causes: ["a construct prop given a real secret"],
    run: ["remove the value from the code; put it with npm run secrets -- put <name> --stage <stage>"],
  },
  VALUE_INVALID: {
    meaning: "A value breaks its rule: at synth, a construct prop (the message names the construct path and the bound); in `secrets put`, the secret's shared rule (e.g. a signing key under 32 characters).",
    causes: ["a stage or construct edit", "a secret value that the sender would refuse"],
    run: ["read the bound in the message and fix the value", "npm run synth, or put a valid value"],
  },
  NAME_INVALID: {
    meaning: "Synth: a resource name in the props breaks AWS's naming rule for it.",
    causes: ["a stack or stage name edit"],
    run: ["fix the name", "npm run synth"],
  },
  THRESHOLD_INVALID: {
    meaning: "Synth: an alarm threshold is outside the range that makes sense (the message gives it), e.g. a bounce-rate alarm above AWS's own review level.",
    causes: ["a Monitoring prop edit"],
    run: ["choose a value inside the range in the message", "npm run synth"],
  },
  SCHEDULE_INVALID: {
    meaning: "Synth: a schedule is not a daily cron, or a catch-up is not later the same day than the daily run.",
    causes: ["a schedule edit in modules/stages.ts"],
    run: ["fix schedule in modules/stages.ts (docs/operations.md: catch-up runs)", "npm run synth"],
  },
  NETWORK_INVALID: {
    meaning: "Synth: the network props break a rule (the CIDR size, two different AZs, ...).",
    causes: ["a network edit in modules/stages.ts"],
    run: ["fix it", "npm run synth"],
  },
  POLICY_EMPTY: {
    meaning: "Synth: an IAM policy would have no statement (a role or operator policy that nothing was granted to).",
    causes: ["a construct wired without its grants"],
    run: ["add the missing grantXxx call", "npm run synth"],
  },
  STAGE_INVALID: {
    meaning: "Synth: the stage data contradict each other (the message says which rule).",
    causes: ["a stage edit in modules/stages.ts"],
    run: ["fix the stage", "npm run synth"],
  },
};

const ORIGIN_TITLES: Record<CodeOrigin, { title: string; intro: string }> = {
  sender: { title: "The sender", intro: "Printed by `npm run digest` (and the scheduled task) in the run summary and the JSON log, with the parameter, recipient or AWS operation it concerns and the AWS request id; never a secret value." },
  ledger: { title: "Codes in a ledger item", intro: "`npm run digest -- ledger status` shows each recipient's `error_code`: any code of the sender's, or one of these." },
  command: { title: "The operator commands", intro: "Printed by `npm run rotate`, `rollout`, `secrets`, `local`, `docs` and the other commands (text on stderr in a terminal; with `--json` or piped, the last stdout line has `code`, `message`, `hint`, `exitCode`)." },
  synth: { title: "Synthesis of the stack", intro: "Thrown by a construct while `npm run synth` / `npm run infra -- synth|plan` builds the stack: `CODE: <construct path>: <prop> must be <bound>`." },
};

/** docs/troubleshooting.md from the codes found and the guide. Throws when a code has no entry. */
export function renderTroubleshooting(codes: readonly FoundCode[], guide: Readonly<Record<string, GuideEntry>> = ERROR_GUIDE): string {
  const missing = codes.filter((c) => !guide[c.code]).map((c) => c.code);
  if (missing.length) throw new Error(`no troubleshooting entry for: ${missing.join(", ")} (add them to scripts/lib/error-guide.ts)`);
  const out: string[] = [
    "# Troubleshooting by error code",
    "",
    "<!-- Generated by `npm run docs` from scripts/lib/error-guide.ts and the codes found in the code; do not edit by hand. -->",
    "",
    "Every code the sender, the operator commands and the stack's synthesis can print, with what it",
    "means, its likely causes and what to run. Find a code with your browser's search. Exit codes",
    `are the same for every command (EXIT in app/src/cli-kit.ts): ${Object.entries(EXIT).map(([name, code]) => `${code} ${name}`).join(", ")};`,
    "each command's `--help` says what each means for it.",
    "",
  ];
  for (const origin of ["sender", "ledger", "command", "synth"] as const) {
    const list = codes.filter((c) => c.origins[0] === origin);
    if (!list.length) continue;
    out.push(`## ${ORIGIN_TITLES[origin].title}`, "", ORIGIN_TITLES[origin].intro, "");
    out.push(list.map((c) => `[\`${c.code}\`](#${c.code.toLowerCase()})`).join(" · "), "");
    for (const c of list) {
      const e = guide[c.code]!;
      out.push(`### ${c.code}`, "", text(e.meaning), "", "Likely causes:", "", ...e.causes.map((x) => `- ${text(x)}`), "", "What to run:", "", ...e.run.map((x) => `- ${/^(npm|aws|printf|curl) /.test(x) ? codeSpan(x) : text(x)}`), "", `Printed by: ${c.files.map((f) => `\`${f}\``).join(", ")}`, "");
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

/** `x` as Markdown code, the trailing explanation in parentheses left as text. */
function codeSpan(x: string): string {
  const m = /^(.*?)( \(.*\))?$/.exec(x)!;
  return `\`${m[1]}\`${text(m[2] ?? "")}`;
}

/** Prose for Markdown: outside `code` spans, < and > as entities (a bare <stage> would be read as an HTML tag). */
function text(x: string): string {
  return x
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith("`") ? part : part.replace(/</g, "&lt;").replace(/>/g, "&gt;")))
    .join("");
}
