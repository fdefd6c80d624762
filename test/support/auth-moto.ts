/**
 * A moto server of its own that checks credentials the way AWS does for what matters to a
 * key rotation: after `enableAuth`, every request must be signed by an existing IAM access
 * key with the matching secret (a mismatched pair gets SignatureDoesNotMatch, an unknown or
 * deleted key InvalidClientTokenId), and the key's user needs a policy that allows the
 * action. moto does not refuse an Inactive key: tests read a key's status instead.
 *
 * The suite's shared moto stays without auth (other tests sign with dummy keys), so tests
 * that need this start their own, and stop it by PID.
 */
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { startMoto, type MotoServer } from "./moto";

export const AUTH_REGION = "us-east-1";

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface AuthMoto {
  readonly moto: MotoServer;
  readonly url: string;
  /** An IAM user allowed everything: what the operator commands run as. */
  readonly admin: Credentials;
  /** Client settings for the admin (region, endpoint, credentials, capped retries). */
  adminConfig(maxAttempts?: number): { region: string; endpoint: string; credentials: Credentials; maxAttempts: number };
  /** Creates a user with an inline policy of `actions` on `*` and returns its name. */
  createUser(name: string, actions: readonly string[]): Promise<string>;
  /** Creates an access key for `user`. */
  createKey(user: string): Promise<Credentials>;
  stop(): Promise<void>;
}

/** Starts moto, creates the admin user while moto is still open, then turns authentication on. */
export async function startAuthMoto(): Promise<AuthMoto> {
  const moto = await startMoto();
  try {
    const open = new IAMClient({ region: AUTH_REGION, endpoint: moto.url, credentials: { accessKeyId: "bootstrap", secretAccessKey: "bootstrap" }, maxAttempts: 2 });
    const policy = (actions: readonly string[]) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: actions, Resource: "*" }] });
    await open.send(new CreateUserCommand({ UserName: "operator-admin" }));
    await open.send(new PutUserPolicyCommand({ UserName: "operator-admin", PolicyName: "all", PolicyDocument: policy(["*"]) }));
    const k = (await open.send(new CreateAccessKeyCommand({ UserName: "operator-admin" }))).AccessKey!;
    open.destroy();
    const admin = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
    // From now on moto authenticates every request (POST /moto-api/reset-auth with the count of free ones).
    const res = await fetch(`${moto.url}/moto-api/reset-auth`, { method: "POST", body: "0" });
    if (res.status !== 200) throw new Error(`moto reset-auth answered ${res.status}`);
    const adminConfig = (maxAttempts = 2) => ({ region: AUTH_REGION, endpoint: moto.url, credentials: admin, maxAttempts });
    const iam = () => new IAMClient(adminConfig());
    return {
      moto,
      url: moto.url,
      admin,
      adminConfig,
      async createUser(name, actions) {
        const c = iam();
        await c.send(new CreateUserCommand({ UserName: name }));
        await c.send(new PutUserPolicyCommand({ UserName: name, PolicyName: "sender", PolicyDocument: policy(actions) }));
        c.destroy();
        return name;
      },
      async createKey(user) {
        const c = iam();
        const key = (await c.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
        c.destroy();
        return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      },
      stop: () => moto.stop(),
    };
  } catch (err) {
    await moto.stop();
    throw err;
  }
}
