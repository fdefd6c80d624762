/**
 * End to end through the container, the way the schedule runs it: the `local` stage applied
 * to moto with terraform (the suite's shared applied stage, test/support/shared-stage.ts,
 * applied as `npm run local` applies it; this file takes an exclusive turn at it for the
 * run, points digest/feeds at its own feed server and restores everything it changed
 * afterwards); the secrets put with the operator command
 * (`scripts/secrets.ts put`, value on stdin); the sender bundled and built into its image
 * with podman on a base made from this machine's node (nothing pulled); then the container
 * run as the synthesized task definition says (command, environment, user, read-only root,
 * init, dropped capabilities, the /tmp volume), read from the stack's cdk.tf.json with its
 * Terraform references resolved from the applied state: a drift between the task
 * definition and the image fails here. Then the message moto recorded is parsed and
 * checked, every container log line must be JSON and free of the demo secrets, and a
 * second run is stopped with `podman stop` to see SIGTERM handled (exit 143, metrics and
 * the 'interrupted' summary flushed).
 *
 * Without podman this test fails (it is never skipped): .ci/run installs it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { simpleParser, type ParsedMail } from "mailparser";
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { DeleteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT, ENV, LEDGER, PARAMETERS, parameterName } from "../../app/src/contract";
import { STACK_OUTPUTS } from "../../modules/digest-stack";
import { unsubscribeAddressOf, verifyUnsubscribeToken } from "../../app/src/unsubscribe";
import { localStage, sampleFeeds } from "../../modules/stages";
import { bundleSender, buildImage, ensureLocalBase, imageRevision, inspectImage, LOCAL_BASE_IMAGE, type ImageConfig } from "../../scripts/image";
import { startFeedServer, SAMPLE_FEEDS_DIR, type FeedRoute, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";
import { motoSentMessages, type MotoSentMessage } from "../support/moto";
import { leaseStage, sharedLocalStage, snapshotParameters } from "../support/shared-stage";
import { SECRET_KEYS } from "../../scripts/lib/secrets";
import {
  podman,
  podmanRunArgs,
  readTaskDefinition,
  removeContainer,
  requirePodman,
  resolveReferences,
  smokeRun,
  startContainer,
  startRecordingProxy,
  type ContainerDefinition,
  type RecordingProxy,
  type RunningContainer,
  type TaskDefinition,
  type TerraformStateJson,
  type TimedLine,
} from "../support/podman";

jest.setTimeout(120_000);
/** The IAM user whose key pair this run puts into the stage (deleted afterwards). */
const SENDER_USER = "vibe-digest-container-sender";

const REGION = "us-east-1";
const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
// One tag per checkout: two copies of the suite on one machine each build and clean up their own.
const E2E_IMAGE = `localhost/vibe-digest:e2e-${createHash("sha256").update(PROJECT_ROOT).digest("hex").slice(0, 8)}`;

/** What one container run left behind. */
interface ContainerRun {
  readonly id: string;
  readonly exitCode: number;
  readonly lines: TimedLine[];
  readonly startedAt: number;
  readonly endedAt: number;
}

function jsonLines(lines: readonly TimedLine[]): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l.line) as Record<string, unknown>);
}

/** Puts one secret through the operator command, the value on stdin only. */
async function operatorPut(motoUrl: string, parameterPath: string, value: string): Promise<void> {
  const child = spawn(path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [path.join(PROJECT_ROOT, "scripts", "secrets.ts"), "put", parameterPath, "--stage", "local"], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: motoUrl,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: "true",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  child.stdin.end(value);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve)).finally(() => clearTimeout(timer));
  if (code !== 0) throw new Error(`secrets put ${parameterPath} exited with ${code}: ${out.slice(-1000)}`);
  expect(out).not.toContain(value);
}

describe("the sender's container, run as the local stage's task definition says", () => {
  const workDir = path.join(PROJECT_ROOT, ".tmp", `container-e2e-${randomUUID()}`);
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const containerIds: string[] = [];
  const feedRoutes: Record<string, FeedRoute> = {};
  let motoUrl = "";
  /** What this file changed in the shared stage, undone in afterAll before its turn ends. */
  const restores: (() => Promise<void>)[] = [];
  let releaseStage: (() => void) | undefined;
  let messagesBefore = 0;
  let ledgerTable = "";
  const ledgerKey = (item: Record<string, AttributeValue>) => `${item[LEDGER.partitionKey]?.S}|${item[LEDGER.sortKey]?.S}`;
  let ledgerBefore = new Set<string>();
  const scanLedger = async (): Promise<Record<string, AttributeValue>[]> => {
    const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl, credentials: TEST_CREDENTIALS });
    try {
      return (await ddb.send(new ScanCommand({ TableName: ledgerTable, Limit: 1000 }))).Items ?? [];
    } finally {
      ddb.destroy();
    }
  };
  let feeds: FeedServer | undefined;
  let sendgrid: SendGridServer | undefined;
  let proxy: RecordingProxy | undefined;
  let taggedRef: string | undefined;

  let task: TaskDefinition;
  let container: ContainerDefinition;
  let outputs: Record<string, { value: unknown }>;
  let demoSecrets: string[] = [];
  let signingKey = "";
  let bundleBytes = 0;
  let head = "";
  let image: { id: string; bytes: number; config: ImageConfig };
  let wiring: Record<string, string>;
  let run: ContainerRun;
  let inspected: { Config: { User: string }; HostConfig: { ReadonlyRootfs: boolean; Init?: boolean; CapAdd?: string[] | null; CapDrop?: string[] | null } };
  let recorded: MotoSentMessage[] = [];
  let mail: ParsedMail;
  let ledgerItems: Record<string, AttributeValue>[] = [];

  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - s);
    }
  };

  /** Runs the container to its end (or until `act` has stopped it), keeping its id for cleanup. */
  const runContainer = async (name: string, act?: (c: RunningContainer, id: string) => Promise<void>): Promise<ContainerRun> => {
    const cidFile = path.join(workDir, `${name}.cid`);
    const c = startContainer(podmanRunArgs(task, { wiring, cidFile }), 90_000);
    const id = await c.id();
    containerIds.push(id);
    if (act) await act(c, id);
    const exitCode = await c.exited;
    return { id, exitCode, lines: c.lines, startedAt: c.startedAt, endedAt: performance.now() };
  };

  beforeAll(async () => {
    fs.mkdirSync(workDir, { recursive: true });
    await timed("podman", requirePodman);
    // The image first (a podman that cannot build or start containers fails in seconds):
    // bundle, the local base (cached), the Dockerfile (layers cached by podman).
    bundleBytes = (await timed("bundle", bundleSender)).bytes;
    const base = await timed("base", () => ensureLocalBase("podman"));
    timings.baseBuilt = base.built ? 1 : 0;
    await timed("smoke", () => smokeRun(LOCAL_BASE_IMAGE));
    head = (await imageRevision()).head;
    const previous = (await inspectImage("podman", E2E_IMAGE))?.id;
    const built = await timed("build", () => buildImage({ engine: "podman", tags: [E2E_IMAGE], baseImage: LOCAL_BASE_IMAGE, offline: true, revision: head }));
    // The last run's image, when this build replaced it (its layers stay cached in the new one).
    if (previous && previous !== built.id) await podman(["rmi", previous]).catch(() => undefined);
    image = { id: built.id, bytes: built.bytes, config: (await inspectImage("podman", built.id))!.config };

    // The applied local stage, as `npm run local` deploys it.
    const stage = await timed("shared stage", sharedLocalStage);
    motoUrl = stage.motoUrl;
    outputs = stage.outputs;
    ledgerTable = String(outputs[STACK_OUTPUTS.ledgerTable]?.value);
    task = resolveReferences(readTaskDefinition(stage.stackDir), JSON.parse(fs.readFileSync(stage.stateJsonFile, "utf8")) as TerraformStateJson);
    container = task.container;
    feeds = await startFeedServer({ routes: feedRoutes });

    // From here on this file changes the stage's data: its turn, until afterAll has restored it.
    releaseStage = await timed("turn", () => leaseStage("exclusive"));
    messagesBefore = (await motoSentMessages(motoUrl)).length;
    ledgerBefore = new Set((await scanLedger()).map(ledgerKey));
    const ssm = new SSMClient({ region: REGION, endpoint: motoUrl, credentials: TEST_CREDENTIALS });
    restores.push(await snapshotParameters(ssm, [...SECRET_KEYS, "feeds"]));
    // The stage's feed list, on this file's feed server (same loopback host: digest/feed_hosts allows it).
    await ssm.send(new PutParameterCommand({ Name: parameterName(DEFAULT_PARAMETER_ROOT, "feeds"), Value: JSON.stringify(sampleFeeds(feeds.url)), Type: "String", Overwrite: true }));
    ssm.destroy();

    // The seed's credential mode: an IAM user's key pair, and the SendGrid fallback key.
    await timed("secrets", async () => {
      const iam = new IAMClient({ region: REGION, endpoint: motoUrl, credentials: TEST_CREDENTIALS });
      await iam.send(new CreateUserCommand({ UserName: SENDER_USER }));
      const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: SENDER_USER }));
      restores.push(async () => {
        const iamUndo = new IAMClient({ region: REGION, endpoint: motoUrl, credentials: TEST_CREDENTIALS });
        await iamUndo.send(new DeleteAccessKeyCommand({ UserName: SENDER_USER, AccessKeyId: AccessKey!.AccessKeyId! }));
        await iamUndo.send(new DeleteUserCommand({ UserName: SENDER_USER }));
        iamUndo.destroy();
      });
      iam.destroy();
      const sendgridKey = `demo-sendgrid-${randomUUID()}`;
      signingKey = randomBytes(32).toString("base64url");
      demoSecrets = [AccessKey!.SecretAccessKey!, sendgridKey, signingKey];
      await operatorPut(motoUrl, PARAMETERS.awsAccessKeyId.path, AccessKey!.AccessKeyId!);
      await operatorPut(motoUrl, PARAMETERS.awsSecretAccessKey.path, AccessKey!.SecretAccessKey!);
      await operatorPut(motoUrl, PARAMETERS.sendgridApiKey.path, sendgridKey);
      await operatorPut(motoUrl, PARAMETERS.unsubscribeSigningKey.path, signingKey);
      sendgrid = await startSendGridServer({ apiKeys: [sendgridKey] });
    });

    // The image reference the task definition names (never pushed: moto serves no registry).
    taggedRef = container.image;
    await podman(["tag", image.id, taggedRef]);

    // Emulator wiring on top of the task definition's environment, and nothing else: on
    // Fargate the endpoint is AWS's, the credentials come from the task role, and SendGrid
    // is api.sendgrid.com.
    proxy = await startRecordingProxy(motoUrl);
    wiring = {
      [ENV.endpointUrl]: proxy.url,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      [ENV.sendgridBaseUrl]: sendgrid!.url,
    };

    run = await timed("run", () => runContainer("run"));
    inspected = (JSON.parse(await podman(["container", "inspect", run.id])) as (typeof inspected)[])[0]!;
    // What this run added (the stage is shared: earlier turns left their messages in SES).
    recorded = (await motoSentMessages(motoUrl)).slice(messagesBefore);
    if (recorded.length > 0) mail = await simpleParser(Buffer.from(recorded[0]!.raw_data));
    ledgerItems = (await scanLedger()).filter((i) => !ledgerBefore.has(ledgerKey(i)));
  }, 900_000);

  afterAll(async () => {
    for (const id of containerIds) await removeContainer(id);
    if (taggedRef) await podman(["untag", taggedRef, taggedRef]).catch(() => undefined);
    await proxy?.close();
    await sendgrid?.close();
    await feeds?.close();
    try {
      if (releaseStage) {
        // Undo this file's changes to the shared stage: the ledger items its runs wrote, then the rest.
        const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl, credentials: TEST_CREDENTIALS });
        for (const item of (await scanLedger()).filter((i) => !ledgerBefore.has(ledgerKey(i)))) {
          await ddb.send(new DeleteItemCommand({ TableName: ledgerTable, Key: { [LEDGER.partitionKey]: item[LEDGER.partitionKey]!, [LEDGER.sortKey]: item[LEDGER.sortKey]! } }));
        }
        ddb.destroy();
        for (const restore of restores.reverse()) await restore();
      }
    } finally {
      releaseStage?.();
    }
    fs.rmSync(workDir, { recursive: true, force: true });
    const firstRequest = proxy?.requests[0];
    const firstLine = run?.lines[0];
    console.log(
      [
        `container e2e: total ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        `bundle ${(bundleBytes / 1024).toFixed(0)} KiB`,
        `image ${((image?.bytes ?? 0) / 1e6).toFixed(1)} MB (local base)`,
        `steps ms ${JSON.stringify(timings)}`,
        run && firstRequest ? `container start -> first AWS request (${firstRequest.operation}) ${Math.round(firstRequest.at - run.startedAt)} ms` : "",
        run && firstLine ? `container start -> first log line ${Math.round(firstLine.at - run.startedAt)} ms` : "",
        run ? `container run ${Math.round(run.endedAt - run.startedAt)} ms` : "",
      ]
        .filter(Boolean)
        .join("\n  "),
    );
  }, 120_000);

  describe("the image", () => {
    test("when built, it runs as the task definition's non-root user even without it", () => {
      expect(container.user).toMatch(/^[1-9]\d*:\d+$/);
      expect(image.config.User).toBe(container.user);
    });

    test("when built, its exec-form entry point runs the task definition's command as its default", () => {
      expect(image.config.Entrypoint).toEqual(["node", "/app/digest.cjs"]);
      expect(container.entryPoint).toBeUndefined();
      expect(image.config.Cmd).toEqual(container.command);
    });

    test("when built, every writable mount point of the task is a VOLUME of the image (Fargate copies its permissions)", () => {
      const mounts = (container.mountPoints ?? []).filter((m) => !m.readOnly).map((m) => m.containerPath);
      expect(mounts).toEqual(["/tmp"]);
      for (const m of mounts) expect(Object.keys(image.config.Volumes ?? {})).toContain(m);
      expect(container.environment?.find((e) => e.name === ENV.outDir)?.value).toMatch(/^\/tmp\//);
    });

    test("when built, it carries OCI labels for source, version and revision", () => {
      const labels = image.config.Labels ?? {};
      expect(labels["org.opencontainers.image.version"]).toMatch(/^\d+\.\d+\.\d+/);
      // this commit, even when podman took every layer from its cache
      expect(labels["org.opencontainers.image.revision"]).toBe(head);
      expect(labels).toHaveProperty(["org.opencontainers.image.source"]);
    });

    test("when built, /app holds the bundle and its licence notes only (no node_modules)", async () => {
      const out = await podman(["run", "--rm", "--pull=never", "--network", "none", "--read-only", "--entrypoint", '["node","-e","console.log(JSON.stringify(require(\\"fs\\").readdirSync(\\"/app\\")))"]', image.id]);
      expect(JSON.parse(out.trim())).toEqual(["digest.cjs", "digest.cjs.LEGAL.txt"]);
    });

    test("when the Dockerfile is read, it has no RUN step, so a shell-less base builds it the same", () => {
      const instructions = fs
        .readFileSync(path.join(PROJECT_ROOT, "app", "Dockerfile"), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z]+\s/.test(l))
        .map((l) => l.split(/\s/)[0]);
      expect(instructions.filter((i) => !["ARG", "FROM", "ENV", "WORKDIR", "COPY", "VOLUME", "USER", "ENTRYPOINT", "CMD", "LABEL"].includes(i!))).toEqual([]);
      expect(instructions).toContain("ENTRYPOINT");
    });
  });

  describe("one scheduled run", () => {
    test("when the task definition is resolved, its image is the stack's repository at the stage's tag", () => {
      expect(container.image).toBe(`${String(outputs[STACK_OUTPUTS.repositoryUrl]?.value)}:${localStage().imageTag}`);
      expect(JSON.stringify(container)).not.toContain("${");
    });

    test("when the container ran, podman used the task definition's user, read-only root, init process and dropped capabilities", () => {
      expect(inspected.Config.User).toBe(container.user);
      expect(container.readonlyRootFilesystem).toBe(true);
      expect(inspected.HostConfig.ReadonlyRootfs).toBe(true);
      expect(inspected.HostConfig.Init).toBe(container.linuxParameters?.initProcessEnabled === true);
      expect(container.linuxParameters?.capabilities?.drop).toEqual(["ALL"]);
      expect(inspected.HostConfig.CapAdd ?? []).toEqual([]);
      expect(inspected.HostConfig.CapDrop).toEqual(expect.arrayContaining(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"]));
    });

    test("when the container ends, it exits 0 and its last line is a summary of one sent message", () => {
      expect(run.exitCode).toBe(0);
      const stdout = run.lines.filter((l) => l.stream === "stdout");
      const summary = JSON.parse(stdout[stdout.length - 1]!.line) as Record<string, unknown>;
      expect(summary).toMatchObject({ msg: "run summary", ok: true, sent: 1, failed: 0, exitCode: 0 });
      expect(summary.messageIds).toHaveLength(1);
      expect(String((summary.files as { eml?: string } | undefined)?.eml)).toMatch(/^\/tmp\/out\//);
    });

    test("when the container ran, every log line is JSON and none holds a demo secret", () => {
      expect(run.lines.length).toBeGreaterThan(3);
      expect(run.lines.filter((l) => l.stream === "stderr")).toEqual([]);
      expect(() => jsonLines(run.lines)).not.toThrow();
      for (const o of jsonLines(run.lines)) expect(o !== null && typeof o === "object").toBe(true);
      expect(demoSecrets).toHaveLength(3);
      const text = run.lines.map((l) => l.line).join("\n") + JSON.stringify(image.config) + JSON.stringify(inspected);
      for (const secret of demoSecrets) expect(text.includes(secret)).toBe(false);
    });

    test("when the container ran, its first AWS request was the Parameter Store read, through the wired endpoint", () => {
      expect(proxy!.requests.length).toBeGreaterThan(2);
      expect(proxy!.requests[0]!.operation).toBe("AmazonSSM.GetParametersByPath");
      expect(proxy!.requests.map((r) => r.operation)).toContain("SendRawEmail");
    });

    test("when moto's SES is read back, it holds one message from the verified sender to the stage's recipient", () => {
      expect(recorded).toHaveLength(1);
      expect(mail.from?.value[0]?.address).toBe(localStage().fromAddress);
      const to = Array.isArray(mail.to) ? mail.to : [mail.to];
      expect(to.flatMap((a) => a?.value.map((v) => v.address))).toEqual([...localStage().toAddresses]);
    });

    test("when the message is parsed, its subject is the digest's in New York time", () => {
      expect(mail.subject).toMatch(/^🧠 Daily Vibe Coding Digest – [A-Z][a-z]+ \d{2}, \d{4} (1[0-2]|[1-9]):[0-5]\d (AM|PM) E[SD]T$/);
    });

    test("when the message is parsed, both parts carry the sample feeds' links and sources", () => {
      expect(mail.html).toBeTruthy();
      expect(mail.text).toBeTruthy();
      for (const link of ["https://vibe.example.com/posts/tests-first", "https://agents.example.org/2026/11/whole-repo"]) {
        expect(mail.html).toContain(`href="${link}"`);
        expect(mail.text).toContain(link);
      }
      for (const source of ["Vibe Coding Weekly", "Agents Journal"]) {
        expect(mail.html).toContain(source);
        expect(mail.text).toContain(source);
      }
    });

    test("when the message is parsed, it has List-Unsubscribe signed for the recipient and the one-click List-Unsubscribe-Post for the https target", () => {
      const target = localStage().unsubscribeUrl!;
      expect(target).toMatch(/^https:\/\//);
      const url = new URL((mail.headers.get("list") as { unsubscribe: { url: string } }).unsubscribe.url);
      expect(`${url.origin}${url.pathname}`).toBe(target);
      const address = unsubscribeAddressOf(url.searchParams.get("u")!);
      expect(address).toBe(localStage().toAddresses[0]);
      expect(verifyUnsubscribeToken(signingKey, address, url.searchParams.get("t")!)).toBe(true);
      // A signed URL passes 76 characters, so the header may be folded (RFC 5322): compare unfolded.
      const unfolded = mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line.replace(/\r?\n(?=[ \t])/g, "");
      expect(unfolded).toBe(`List-Unsubscribe: <${url.href}>`);
      expect(mail.headerLines.find((h) => h.key === "list-unsubscribe-post")?.line).toBe("List-Unsubscribe-Post: List-Unsubscribe=One-Click");
    });

    test("when the ledger is read back, the recipient is recorded as sent through SES", () => {
      expect(ledgerItems).toHaveLength(1);
      expect(ledgerItems[0]![LEDGER.sortKey]?.S).toBe(localStage().toAddresses[0]);
      expect(ledgerItems[0]![LEDGER.attributes.state]?.S).toBe("sent");
    });
  });

  describe("a run stopped by ECS", () => {
    test("when podman stops the container mid-run, it exits 143 after flushing metrics and an 'interrupted' summary", async () => {
      // A feed that answers only after 8 s (under the fetcher's 10 s timeout) holds the run open.
      const slow = "/vibe-blog.rss";
      feedRoutes[slow] = { body: fs.readFileSync(path.join(SAMPLE_FEEDS_DIR, "vibe-blog.rss"), "utf8"), delayMs: 8_000 };
      const hitsBefore = feeds!.hits.get(slow) ?? 0;
      let stopMs = 0;
      const stopped = await runContainer("sigterm", async (c, id) => {
        await c.firstLine(30_000);
        for (let i = 0; i < 300 && (feeds!.hits.get(slow) ?? 0) === hitsBefore; i++) await new Promise((r) => setTimeout(r, 50));
        expect(feeds!.hits.get(slow) ?? 0).toBeGreaterThan(hitsBefore);
        const s = performance.now();
        await podman(["stop", "--time", "10", id], 60_000);
        stopMs = Math.round(performance.now() - s);
      });
      delete feedRoutes[slow];
      timings.sigtermStop = stopMs;
      expect(stopped.exitCode).toBe(143);
      // Exit 143 is the sender's own: podman's SIGKILL after the 10 s grace would give 137.
      const lines = jsonLines(stopped.lines);
      const last = lines[lines.length - 1]!;
      expect(last).toMatchObject({ msg: "run summary", ok: false, reason: "interrupted", exitCode: 143 });
      expect(lines.some((o) => "_aws" in o)).toBe(true);
      expect(lines.some((o) => o.msg === "interrupted by SIGTERM")).toBe(true);
      expect((await motoSentMessages(motoUrl)).slice(messagesBefore)).toHaveLength(1);
    });
  });

  test("when the run is over, the parameter root the container read is the stage's", () => {
    expect(container.environment?.find((e) => e.name === ENV.parameterRoot)?.value).toBe(DEFAULT_PARAMETER_ROOT);
  });
});

describe("the task definition -> podman run mapping", () => {
  const task: TaskDefinition = {
    container: {
      name: "sender",
      image: "repo:tag",
      command: ["run"],
      user: "10001:10001",
      readonlyRootFilesystem: true,
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ["ALL"] } },
      mountPoints: [{ sourceVolume: "tmp", containerPath: "/tmp", readOnly: false }],
      environment: [{ name: "VIBE_LOG_FORMAT", value: "json" }],
    },
    volumes: [{ name: "tmp" }],
  };

  test("when mapped, every hardening field becomes its podman flag and the command follows the image", () => {
    const args = podmanRunArgs(task, { cidFile: "/x.cid", wiring: { AWS_ENDPOINT_URL: "http://127.0.0.1:1" } });
    expect(args).toEqual(expect.arrayContaining(["--read-only", "--read-only-tmpfs=false", "--init", "--volume", "/tmp", "--env", "VIBE_LOG_FORMAT=json", "--env", "AWS_ENDPOINT_URL=http://127.0.0.1:1"]));
    expect(args.slice(args.indexOf("--user"), args.indexOf("--user") + 2)).toEqual(["--user", "10001:10001"]);
    expect(args.slice(args.indexOf("--cap-drop"), args.indexOf("--cap-drop") + 2)).toEqual(["--cap-drop", "ALL"]);
    expect(args.slice(-2)).toEqual(["repo:tag", "run"]);
  });

  test("when the wiring would change a name the task definition sets, it throws", () => {
    expect(() => podmanRunArgs(task, { cidFile: "/x.cid", wiring: { VIBE_LOG_FORMAT: "pretty" } })).toThrow(/may not change VIBE_LOG_FORMAT/);
  });

  test("when a reference is not in the applied state, resolving it throws instead of passing it on", () => {
    const state: TerraformStateJson = { values: { root_module: { resources: [{ address: "aws_dynamodb_table.t", values: { name: "ledger" } }] } } };
    expect(resolveReferences({ v: "${aws_dynamodb_table.t.name}" }, state)).toEqual({ v: "ledger" });
    expect(() => resolveReferences({ v: "${aws_dynamodb_table.other.name}" }, state)).toThrow(/cannot resolve/);
  });
});
