/**
 * A small IAM policy evaluator for the permission table (test/infra/permissions.test.ts),
 * covering the part of AWS's evaluation logic that this project's policies use, and
 * refusing (throwing on) anything it does not implement, so a new kind of statement cannot
 * be silently misread. Its own behaviour is pinned by test/infra/iam-eval.test.ts.
 *
 * What it implements (requests within one account, as every request of the table is):
 *
 * - Statements: `effect` Allow/Deny, `actions` or `notActions`, `resources`, `principals`
 *   (resource policies: a role ARN, an account root `arn:...:iam::<account>:root`, or `*`),
 *   `condition`. `notResources` is not used here and throws.
 * - Actions match case-insensitively with `*` and `?` wildcards; resources match
 *   case-sensitively with `*` and `?` (a resource `*` matches everything).
 * - Conditions: the operators below; several values of one key are ORed, several keys (and
 *   several conditions) ANDed. A key missing from the request fails a positive operator and
 *   satisfies a negated one (StringNotEquals, ArnNotEquals, Bool with "false" is positive);
 *   `ForAnyValue:` needs one request value to match, `ForAllValues:` all of them (and holds
 *   when the key is missing).
 * - Decision: an explicit Deny in any policy that applies wins. Otherwise an identity-policy
 *   request is allowed when the identity policy allows it and the permissions boundary, if
 *   the role has one, allows it too. A request on a resource with a resource policy (a KMS
 *   key policy) is allowed when the resource policy allows the role by ARN, or allows the
 *   account root and the identity policy allows it; and, for a role with a boundary, the
 *   boundary allows it (AWS: an implicit deny in a boundary limits what a resource policy
 *   grants to the role ARN). A KMS key is only reachable through its key policy: without
 *   one naming the role or the account, nothing allows it.
 */

export interface Condition {
  readonly test: string;
  readonly variable: string;
  readonly values: readonly string[];
}

export interface Statement {
  readonly sid?: string;
  readonly effect?: string;
  readonly actions?: readonly string[];
  readonly notActions?: readonly string[];
  readonly resources?: readonly string[];
  readonly notResources?: readonly string[];
  readonly principals?: readonly { readonly type: string; readonly identifiers: readonly string[] }[];
  readonly condition?: readonly Condition[];
}

/** The request context: a key's value, or several (multi-valued keys such as kms:ResourceAliases). */
export type Context = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface Principal {
  /** The role's ARN. */
  readonly arn: string;
  /** Its identity policies' statements (inline and attached). */
  readonly identity: readonly Statement[];
  /** Its permissions boundary's statements, when it has one. */
  readonly boundary?: readonly Statement[];
}

export interface Request {
  readonly principal: Principal;
  readonly action: string;
  readonly resource: string;
  readonly context?: Context;
  /** The resource's own policy (a KMS key policy, a bucket policy), when it has one. */
  readonly resourcePolicy?: readonly Statement[];
}

export interface Decision {
  readonly allowed: boolean;
  /** Why: "explicit deny (sid)", "allowed by ...", or what was missing. */
  readonly reason: string;
}

const KNOWN_OPERATORS = new Set([
  "StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "Bool",
  "ForAnyValue:StringEquals", "ForAllValues:StringEquals",
]);

/** `*` and `?` wildcards as a regular expression. */
function glob(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, caseInsensitive ? "i" : "");
}

export function actionMatches(pattern: string, action: string): boolean {
  return glob(pattern, true).test(action);
}

export function resourceMatches(pattern: string, resource: string): boolean {
  return pattern === "*" || glob(pattern, false).test(resource);
}

function asList(v: string | readonly string[] | undefined): readonly string[] | undefined {
  return v === undefined ? undefined : typeof v === "string" ? [v] : v;
}

/** Whether one condition holds for `context`. */
export function conditionHolds(c: Condition, context: Context): boolean {
  if (!KNOWN_OPERATORS.has(c.test)) throw new Error(`iam-eval: condition operator ${c.test} is not implemented`);
  const got = asList(context[c.variable]);
  const [set, op] = c.test.includes(":") ? (c.test.split(":") as [string, string]) : [undefined, c.test];
  const one = (value: string, expected: string): boolean => {
    switch (op) {
      case "StringEquals":
      case "ArnEquals":
        return value === expected;
      case "StringLike":
      case "ArnLike":
        return glob(expected, false).test(value);
      case "Bool":
        return value.toLowerCase() === expected.toLowerCase();
      default:
        throw new Error(`iam-eval: ${c.test}`);
    }
  };
  if (set === "ForAnyValue") return got !== undefined && got.some((v) => c.values.some((e) => one(v, e)));
  if (set === "ForAllValues") return got === undefined || got.every((v) => c.values.some((e) => one(v, e)));
  if (op === "StringNotEquals") return got === undefined || !got.some((v) => c.values.includes(v));
  if (op === "StringNotLike") return got === undefined || !got.some((v) => c.values.some((e) => glob(e, false).test(v)));
  if (op === "ArnNotEquals") return got === undefined || !got.some((v) => c.values.includes(v));
  return got !== undefined && got.some((v) => c.values.some((e) => one(v, e)));
}

/** Whether `s` applies to the action, resource and context (principals are checked apart). */
export function statementMatches(s: Statement, action: string, resource: string, context: Context): boolean {
  if (s.notResources) throw new Error(`iam-eval: NotResource (statement ${s.sid}) is not implemented`);
  const byAction = s.notActions ? !s.notActions.some((a) => actionMatches(a, action)) : (s.actions ?? []).some((a) => actionMatches(a, action));
  if (!byAction) return false;
  if (!(s.resources ?? ["*"]).some((r) => resourceMatches(r, resource))) return false;
  return (s.condition ?? []).every((c) => conditionHolds(c, context));
}

function isDeny(s: Statement): boolean {
  return (s.effect ?? "Allow") === "Deny";
}

/** How a resource-policy statement names `principalArn`: directly, through its account's root, or not at all. */
function principalMatch(s: Statement, principalArn: string): "direct" | "account" | undefined {
  const account = /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(principalArn)?.[1];
  let found: "direct" | "account" | undefined;
  for (const p of s.principals ?? []) {
    if (p.type !== "AWS") continue;
    for (const id of p.identifiers) {
      if (id === "*" || id === principalArn) return "direct";
      if (account && new RegExp(`^arn:[^:]+:iam::${account}:root$`).test(id)) found = "account";
    }
  }
  return found;
}

/** Evaluates one request (see the module comment for the rules). */
export function evaluate(req: Request): Decision {
  const context = req.context ?? {};
  const applies = (s: Statement) => statementMatches(s, req.action, req.resource, context);
  const resourceStatements = (req.resourcePolicy ?? []).filter((s) => principalMatch(s, req.principal.arn) !== undefined && applies(s));

  const deny = [...req.principal.identity, ...(req.principal.boundary ?? [])].find((s) => isDeny(s) && applies(s)) ?? resourceStatements.find(isDeny);
  if (deny) return { allowed: false, reason: `explicit deny (${deny.sid ?? "no sid"})` };

  const identityAllow = req.principal.identity.find((s) => !isDeny(s) && applies(s));
  const boundaryOk = req.principal.boundary === undefined || req.principal.boundary.some((s) => !isDeny(s) && applies(s));
  if (!boundaryOk) return { allowed: false, reason: "not within the permissions boundary" };

  const isKmsKey = /^arn:[^:]+:kms:[^:]*:\d{12}:key\//.test(req.resource);
  if (req.resourcePolicy || isKmsKey) {
    const direct = resourceStatements.find((s) => !isDeny(s) && principalMatch(s, req.principal.arn) === "direct");
    if (direct) return { allowed: true, reason: `resource policy names the role (${direct.sid ?? "no sid"})` };
    const account = resourceStatements.find((s) => !isDeny(s) && principalMatch(s, req.principal.arn) === "account");
    if (account && identityAllow) return { allowed: true, reason: `resource policy delegates to the account (${account.sid ?? "no sid"}) and the identity policy allows (${identityAllow.sid ?? "no sid"})` };
    if (isKmsKey) return { allowed: false, reason: account ? "the key policy delegates to the account, but no identity policy allows" : "no key-policy statement allows the role" };
  }
  if (identityAllow) return { allowed: true, reason: `identity policy allows (${identityAllow.sid ?? "no sid"})` };
  return { allowed: false, reason: "no statement allows (implicit deny)" };
}
