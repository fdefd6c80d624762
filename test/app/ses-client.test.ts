import { GetSendQuotaCommand, SESClient, type SESClientConfig } from "@aws-sdk/client-ses";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { ParameterStoreConfig } from "../../app/src/config";
import { dispatchProviderFor } from "../../app/src/delivery/select";
import { SesClientCache } from "../../app/src/delivery/ses-client";
import { Secret } from "../../app/src/secret";
import { captureLogger, motoUrl, putParameters, sesClient, ssmClient, uniqueRoot, verifySender } from "../support/app-fixtures";

const keys = (id: string, secret: string) => ({ accessKeyId: new Secret(id), secretAccessKey: new Secret(secret) });

describe("SesClientCache", () => {
  function setup(ttlMs = 3_600_000) {
    let now = 0;
    const created: SESClientConfig[] = [];
    const log = captureLogger();
    const cache = new SesClientCache({
      endpoint: motoUrl(),
      maxAttempts: 1,
      ttlMs,
      now: () => now,
      logger: log.logger,
      defaultCredentials: { accessKeyId: "testing", secretAccessKey: "testing" },
      create: (cfg) => {
        created.push(cfg);
        return new SESClient(cfg);
      },
    });
    return { cache, created, log, advance: (ms: number) => void (now += ms) };
  }

  test("when both access-key parameters hold values, the client uses them and the mode is parameter-store", async () => {
    const s = setup();
    const { client, mode } = s.cache.get({ region: "us-east-1", credentials: keys("AKIAPARAMSTORE01", "param-secret") });
    expect(mode).toBe("parameter-store");
    const creds = await client.config.credentials();
    expect(creds).toMatchObject({ accessKeyId: "AKIAPARAMSTORE01", secretAccessKey: "param-secret" });
    await expect(client.send(new GetSendQuotaCommand({}))).resolves.toHaveProperty("MaxSendRate");
    expect(s.log.text()).toContain('"credentialMode":"parameter-store"');
    expect(s.log.text()).not.toContain("param-secret");
    expect(s.log.text()).not.toContain("AKIAPARAMSTORE01");
    s.cache.destroy();
  });

  test("when no access key is configured, the client uses the default chain", async () => {
    const s = setup();
    const { mode } = s.cache.get({ region: "us-east-1" });
    expect(mode).toBe("default-chain");
    expect(SesClientCache.modeOf({})).toBe("default-chain");
    expect(s.log.text()).toContain('"credentialMode":"default-chain"');
    s.cache.destroy();
  });

  test("when the credentials and region stay the same within the TTL, the client is reused", () => {
    const s = setup();
    const a = s.cache.get({ region: "us-east-1", credentials: keys("AKIA1", "s1") }).client;
    s.advance(3_599_999);
    const b = s.cache.get({ region: "us-east-1", credentials: keys("AKIA1", "s1") }).client;
    expect(b).toBe(a);
    expect(s.created).toHaveLength(1);
    s.cache.destroy();
  });

  test.each([
    ["the secret is rotated", { region: "us-east-1", credentials: keys("AKIA1", "s2") }, 0],
    ["the region changes", { region: "eu-west-1", credentials: keys("AKIA1", "s1") }, 0],
    ["the mode changes to the task role", { region: "us-east-1" }, 0],
    ["the client is older than the TTL", { region: "us-east-1", credentials: keys("AKIA1", "s1") }, 3_600_000],
  ])("when %s, a new client is built", (_, next, wait) => {
    const s = setup();
    const a = s.cache.get({ region: "us-east-1", credentials: keys("AKIA1", "s1") }).client;
    s.advance(wait);
    const b = s.cache.get(next).client;
    expect(b).not.toBe(a);
    expect(s.created).toHaveLength(2);
    s.cache.destroy();
  });
});

describe("credential rotation during a run", () => {
  test("when the keys in Parameter Store are rotated, the next send after the config TTL uses a client with the new keys", async () => {
    const u = uniqueRoot();
    const ssm = ssmClient();
    await putParameters(ssm, u.root, { from: u.from, to: u.to, feeds: '[{"url":"http://127.0.0.1:9/a","name":"A"}]', accessKeyId: "AKIAOLDKEY0000001", secretAccessKey: "old-secret" });
    await verifySender(sesClient(), u.from);
    let now = 0;
    const config = new ParameterStoreConfig(ssm, { root: u.root, ttlSeconds: 60, now: () => now });
    const clients = new SesClientCache({ endpoint: motoUrl(), maxAttempts: 1, now: () => now });
    const first = await config.load();
    const provider = dispatchProviderFor(first, { ses: async () => clients.get(await config.load()).client });
    const msg = { from: u.from, to: u.to, subject: "s", html: "<p>h</p>", text: "t", date: new Date(), headers: {}, tags: {} };
    await provider.send(msg);
    const before = clients.get(first).client;
    expect(await before.config.credentials()).toMatchObject({ accessKeyId: "AKIAOLDKEY0000001" });

    await ssm.send(new PutParameterCommand({ Name: `${u.root}/aws/access_key_id`, Value: "AKIANEWKEY0000002", Type: "SecureString", Overwrite: true }));
    await ssm.send(new PutParameterCommand({ Name: `${u.root}/aws/secret_access_key`, Value: "new-secret", Type: "SecureString", Overwrite: true }));
    now += 61_000;
    await provider.send(msg);
    const after = clients.get(await config.load()).client;
    expect(after).not.toBe(before);
    expect(await after.config.credentials()).toMatchObject({ accessKeyId: "AKIANEWKEY0000002", secretAccessKey: "new-secret" });
    clients.destroy();
  });
});
