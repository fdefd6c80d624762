import { inspect } from "node:util";
import { ParameterStoreConfig } from "../../app/src/config";
import { dispatchProviderFor } from "../../app/src/delivery/select";
import { SesClientCache } from "../../app/src/delivery/ses-client";
import { FeedFetcher } from "../../app/src/feeds";
import { EmfMetrics } from "../../app/src/metrics";
import { runDigest } from "../../app/src/run";
import { Secret } from "../../app/src/secret";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { captureLogger, feedsJson, motoUrl, putParameters, sesClient, ssmClient, uniqueRoot, verifySender } from "../support/app-fixtures";
import { motoSentMessages } from "../support/moto";

/** Secrets a leak would show; each is unique so a hit names the leaking parameter. */
const CANARY = {
  keyId: "AKIA" + "CANARYKEYID00042",
  secret: "CANARY-secret-access-key/Zq9+xw",
  sendgrid: "SG.CANARY-sendgrid-api-key.Zq9xw",
  unsubscribeSigning: "CANARY-unsubscribe-signing-key/Zq9+xw0042",
};
const leaked = (text: string) => Object.values(CANARY).filter((c) => text.includes(c));

describe("canary secrets", () => {
  let feeds: FeedServer;
  // Knows only the canary key: any other key gets 401.
  let sendgrid: SendGridServer;
  beforeAll(async () => {
    feeds = await startFeedServer();
    sendgrid = await startSendGridServer({ apiKeys: [CANARY.sendgrid] });
  });
  afterAll(async () => {
    await feeds.close();
    await sendgrid.close();
  });

  async function setup(extra: Record<string, string> = {}, omit: string[] = []) {
    const u = uniqueRoot();
    const ssm = ssmClient();
    await putParameters(
      ssm,
      u.root,
      {
        from: u.from,
        to: u.to,
        feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe" }),
        accessKeyId: CANARY.keyId,
        secretAccessKey: CANARY.secret,
        sendgridApiKey: CANARY.sendgrid,
        unsubscribe: "https://digest.example/unsubscribe",
        unsubscribeSigningKey: CANARY.unsubscribeSigning,
        ...extra,
      },
      omit,
    );
    return { ...u, ssm };
  }

  test("when a run sends with access keys from Parameter Store, no canary appears in logs, metrics or the summary", async () => {
    const s = await setup();
    await verifySender(sesClient(), s.from);
    const log = captureLogger();
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const clients = new SesClientCache({ endpoint: motoUrl(), maxAttempts: 1, logger: log.logger });
    const config = new ParameterStoreConfig(s.ssm, { root: s.root, metrics });
    const summary = await runDigest(
      {
        config,
        feeds: new FeedFetcher(),
        provider: (c) => dispatchProviderFor(c, { ses: () => clients.get(c).client, logger: log.logger, sendgridBaseUrl: sendgrid.url }),
        credentialMode: SesClientCache.modeOf,
        logger: log.logger,
        metrics,
      },
      { dispatch: { ceilingPerSecond: 50 } },
    );
    metrics.flush();
    log.logger.info(summary, "run summary");
    expect(summary).toMatchObject({ sent: 1, credentialMode: "parameter-store" });
    expect(log.text()).toContain('"unsubscribe":"https-signed"'); // the key was used ...
    const sent = (await motoSentMessages(motoUrl())).filter((m) => m.raw_data.includes(s.from)).map((m) => m.raw_data);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/List-Unsubscribe:\s+<https:\/\/digest\.example\/unsubscribe\?u=[A-Za-z0-9_-]+&t=[A-Za-z0-9_-]{43}>/);
    expect(leaked(sent[0]!)).toEqual([]); // ... and only its HMAC left the process
    const loaded = await config.load();
    log.logger.info({ config: loaded, credentials: loaded.credentials }, "defence in depth: even a logged config is redacted");
    const out = [...log.lines, ...emf, JSON.stringify(summary), inspect(loaded, { depth: 10 }), inspect(summary, { depth: 10 })].join("\n");
    expect(log.text()).toContain('"credentialMode":"parameter-store"');
    expect(leaked(out)).toEqual([]);
    expect(`${loaded.credentials!.secretAccessKey}`).toBe("[redacted]");
  });

  test.each([
    ["an invalid parameter", { from: "not-an-email" }, []],
    ["a missing parameter", {}, ["digest/feeds"]],
    ["half of the key pair", { accessKeyId: "unset" }, []],
    ["an unsubscribe signing key with whitespace", { unsubscribeSigningKey: `${CANARY.unsubscribeSigning} tail` }, []],
    ["an unsubscribe signing key too short", { unsubscribeSigningKey: CANARY.unsubscribeSigning.slice(0, 31) }, []],
  ] as [string, Record<string, string>, string[]][])("when config loading fails on %s, no canary appears in the error, its string or util.inspect", async (_, extra, omit) => {
    const s = await setup(extra, omit);
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const views = [String(err), (err as Error).message, (err as Error).stack ?? "", JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })].join("\n");
    expect(leaked(views)).toEqual([]);
    // Nor the bad value itself (e.g. a signing key cut short is no longer the whole canary).
    for (const value of Object.values(extra).filter((v) => v.length >= 8)) expect(views).not.toContain(value);
  });

  test("when an SES call fails with parameter-store credentials and SendGrid refuses a rotated-away key, no error or log line carries a canary", async () => {
    const s = await setup();
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    // Not verified: SES answers MessageRejected, the router falls back to SendGrid, whose
    // emulator knows only another key (as after a rotation): 401.
    const other = await startSendGridServer({ apiKeys: ["SG.some-other-key"] });
    const log = captureLogger();
    const clients = new SesClientCache({ endpoint: motoUrl(), maxAttempts: 1 });
    const provider = dispatchProviderFor(config, { ses: () => clients.get(config).client, logger: log.logger, sendgridBaseUrl: other.url });
    const err = await provider
      .send({ from: config.fromAddress, to: config.recipients[0], subject: "s", html: "<p>h</p>", text: "t", date: new Date(), headers: {}, tags: {} })
      .catch((e: unknown) => e);
    await provider.close();
    await other.close();
    expect(err).toMatchObject({ code: "SENDGRID_UNAUTHORIZED", httpStatus: 401, definitelyNotSent: true });
    expect(log.text()).toContain('"code":"SES_SENDER_NOT_VERIFIED"');
    const views = [String(err), JSON.stringify(err), inspect(err, { depth: 10, showHidden: true }), inspect(config, { depth: 10, showHidden: true }), inspect(provider, { depth: 10, showHidden: true }), log.text()].join("\n");
    expect(leaked(views)).toEqual([]);
    clients.destroy();
  });

  test("when a run sends through SendGrid with the canary key, the key reaches SendGrid's Authorization header and nowhere else", async () => {
    const s = await setup({ useSes: "false" });
    const log = captureLogger();
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const config = new ParameterStoreConfig(s.ssm, { root: s.root, metrics });
    const summary = await runDigest({
      config,
      feeds: new FeedFetcher(),
      provider: (c, run) => dispatchProviderFor(c, { ses: () => { throw new Error("SES must not be used"); }, logger: log.logger, metrics, sendgridBaseUrl: sendgrid.url }, run),
      logger: log.logger,
      metrics,
    });
    metrics.flush();
    expect(summary).toMatchObject({ sent: 1, exitCode: 0, recipients: [{ provider: "sendgrid" }] });
    expect(sendgrid.acceptedFor(s.to)).toHaveLength(1); // only the canary key is accepted: it was sent
    const loaded = await config.load();
    const out = [...log.lines, ...emf, JSON.stringify(summary), inspect(summary, { depth: 10 }), inspect(loaded, { depth: 10, showHidden: true })].join("\n");
    expect(leaked(out)).toEqual([]);
  });

  test("when a Secret is logged, serialised, interpolated or inspected, it shows [redacted]", () => {
    const s = new Secret(CANARY.secret);
    const log = captureLogger();
    log.logger.info({ s, nested: { apiKey: CANARY.sendgrid, secretAccessKey: CANARY.secret } }, "x");
    const views = [`${s}`, JSON.stringify({ s }), inspect({ s }, { showHidden: true, depth: 5 }), log.text()].join("\n");
    expect(leaked(views)).toEqual([]);
    expect(s.reveal()).toBe(CANARY.secret);
  });
});
