/**
 * One applied `local` stage for the whole jest run, shared by the test files that need
 * one (test/infra/local-apply, test/infra/plan-summary-local, test/e2e/container), so the
 * suite applies it once instead of once per file.
 *
 * - jest's global setup starts a small coordinator on loopback (cheap: nothing is applied
 *   yet) and passes its URL to the workers in VIBE_SHARED_STAGE_URL.
 * - The first test that asks for the stage makes the coordinator start a moto server of
 *   its own (the stage owns /vibecoding, the sender identity and SES's outbox there, apart
 *   from the suite's shared moto), synthesize the local stage as `npm run local` does and
 *   apply it (scripts/lib/local-stage.ts). Every later request gets the same stage; a run
 *   that selects no such test never applies it.
 * - Tests never run terraform in the shared folder: {@link copyStage} gives each file its
 *   own copy of the configuration, the initialized providers and the state.
 * - The stage's data is shared, so changes are taken turns at: a test that changes what
 *   others read (secrets, the feed list, the ledger, an image, a resource) holds an
 *   `exclusive` lease and restores what it changed before it lets go; a test that reads
 *   the stage back through terraform (a refreshing plan) holds a `shared` lease. Leases are
 *   granted in request order. A lease is an open HTTP response: it ends when released, or
 *   when the worker holding it dies, so a crash cannot leave the stage locked.
 *
 * Waits are for events (the apply finishing, a lease granted), each with a generous
 * ceiling, never a timing assumption.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { DescribeParametersCommand, GetParametersCommand, PutParameterCommand, type ParameterType, type SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT, parameterName, type ParameterKey } from "../../app/src/contract";
import { applyLocalStage, synthLocalStage, type TerraformOutputs } from "../../scripts/lib/local-stage";
import { startMoto, type MotoServer } from "../../scripts/lib/moto";
import { terraform } from "../../scripts/lib/terraform";
import type { LocalStageOptions } from "../../modules/stages";

/** The environment variable that tells workers where the coordinator listens. */
export const SHARED_STAGE_ENV = "VIBE_SHARED_STAGE_URL";
/** The feeds of the shared stage point here (nothing listens: the discard port). A test that runs the sender points digest/feeds at its own feed server while it holds an exclusive lease. */
export const SHARED_STAGE_FEED_BASE_URL = "http://127.0.0.1:9";

/** What a test gets: the applied stage. Read-only: change data only under an exclusive lease. */
export interface SharedLocalStage {
  /** The moto server the stage is applied to. */
  readonly motoUrl: string;
  /** The applied stack's folder (do not run terraform here: use {@link copyStage}). */
  readonly stackDir: string;
  /** `terraform output -json` after the apply. */
  readonly outputs: TerraformOutputs;
  /** `terraform show -json` of the applied state, as a file. */
  readonly stateJsonFile: string;
  /** How long init + apply took (for the logs; no test asserts it). */
  readonly applyMs: number;
}

/** The options that synthesize the same local stage (to plan a changed copy against its state). */
export function sharedStageOptions(stage: SharedLocalStage): Required<Pick<LocalStageOptions, "awsEndpoint" | "feedBaseUrl">> {
  return { awsEndpoint: stage.motoUrl, feedBaseUrl: SHARED_STAGE_FEED_BASE_URL };
}

export type LeaseMode = "shared" | "exclusive";

// ---------------------------------------------------------------------------------------
// The coordinator (jest's main process).

/** Readers-writer turns, granted strictly in request order. */
export class StageLock {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly queue: { mode: LeaseMode; grant: () => void }[] = [];

  /** Queues a request; `grant` is called once it holds the lease. Returns a cancel for a request not yet granted. */
  request(mode: LeaseMode, grant: () => void): () => void {
    const entry = { mode, grant };
    this.queue.push(entry);
    this.pump();
    return () => {
      const i = this.queue.indexOf(entry);
      if (i >= 0) this.queue.splice(i, 1);
      this.pump();
    };
  }

  release(mode: LeaseMode): void {
    if (mode === "exclusive") this.exclusiveHeld = false;
    else this.sharedHolders--;
    this.pump();
  }

  get holders(): { shared: number; exclusive: boolean; waiting: number } {
    return { shared: this.sharedHolders, exclusive: this.exclusiveHeld, waiting: this.queue.length };
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const free = next.mode === "exclusive" ? !this.exclusiveHeld && this.sharedHolders === 0 : !this.exclusiveHeld;
      if (!free) return;
      this.queue.shift();
      if (next.mode === "exclusive") this.exclusiveHeld = true;
      else this.sharedHolders++;
      next.grant();
    }
  }
}

export interface SharedStageCoordinator {
  readonly url: string;
  /** Stops moto (if the stage was applied), ends every lease and removes the folder. */
  close(): Promise<void>;
}

/** Starts the coordinator; `dir` holds the stage (removed on close). Nothing is applied until asked. */
export async function startSharedStageCoordinator(dir: string): Promise<SharedStageCoordinator> {
  const lock = new StageLock();
  let moto: MotoServer | undefined;
  let applying: Promise<SharedLocalStage> | undefined;

  const apply = async (): Promise<SharedLocalStage> => {
    fs.mkdirSync(dir, { recursive: true });
    moto = await startMoto();
    const stackDir = await synthLocalStage({ outdir: path.join(dir, "cdktf.out"), awsEndpoint: moto.url, feedBaseUrl: SHARED_STAGE_FEED_BASE_URL });
    const log = fs.createWriteStream(path.join(dir, "apply.log"));
    const t0 = performance.now();
    try {
      const outputs = await applyLocalStage(stackDir, { onLine: (l) => log.write(`${l}\n`) });
      const applyMs = Math.round(performance.now() - t0);
      const stateJsonFile = path.join(dir, "state.json");
      fs.writeFileSync(stateJsonFile, (await terraform(["show", "-json", "-no-color"], { cwd: stackDir })).stdout);
      return { motoUrl: moto.url, stackDir, outputs, stateJsonFile, applyMs };
    } finally {
      log.end();
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/stage") {
      applying ??= apply();
      applying.then(
        (stage) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, stage })),
        (err: unknown) => res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err) })),
      );
      return;
    }
    if (url.pathname === "/status") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(lock.holders));
      return;
    }
    const mode = url.searchParams.get("mode");
    if (url.pathname === "/lease" && (mode === "shared" || mode === "exclusive")) {
      let granted = false;
      const cancel = lock.request(mode, () => {
        granted = true;
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("granted\n");
      });
      // The lease lasts as long as this response: the client ends it to release (or dies).
      res.once("close", () => {
        if (granted) lock.release(mode);
        else cancel();
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await applying?.catch(() => undefined);
      await moto?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// The tests' side (jest workers).

/** Longest wait for the apply or a lease: far above any apply seen under load. */
const CEILING_MS = 15 * 60_000;

function coordinatorUrl(): string {
  const url = process.env[SHARED_STAGE_ENV];
  if (!url) throw new Error(`${SHARED_STAGE_ENV} is not set: the shared local stage needs jest's global setup (test/support/global-setup.ts)`);
  return url;
}

let stagePromise: Promise<SharedLocalStage> | undefined;

/** The applied local stage, applied by the first caller of the run; waits for it (up to 15 min). */
export function sharedLocalStage(): Promise<SharedLocalStage> {
  stagePromise ??= new Promise<SharedLocalStage>((resolve, reject) => {
    const req = http.get(`${coordinatorUrl()}/stage`, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        clearTimeout(timer);
        try {
          const parsed = JSON.parse(body) as { ok: boolean; stage?: SharedLocalStage; error?: string };
          if (parsed.ok && parsed.stage) resolve(parsed.stage);
          else reject(new Error(`the shared local stage could not be applied: ${parsed.error ?? body}`));
        } catch {
          reject(new Error(`the shared-stage coordinator answered ${res.statusCode}: ${body.slice(0, 500)}`));
        }
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`the shared local stage was not applied within ${CEILING_MS / 60_000} min`)), CEILING_MS);
    req.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return stagePromise;
}

/** Waits for a lease on the shared stage (up to 15 min); resolves with its release. */
export function leaseStage(mode: LeaseMode): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${coordinatorUrl()}/lease?mode=${mode}`, (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        res.resume();
        req.destroy();
        reject(new Error(`the shared-stage coordinator refused a ${mode} lease (${res.statusCode})`));
        return;
      }
      res.resume();
      resolve(() => req.destroy());
    });
    const timer = setTimeout(() => req.destroy(new Error(`no ${mode} lease on the shared local stage within ${CEILING_MS / 60_000} min`)), CEILING_MS);
    req.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Runs `fn` holding a lease; releases it however `fn` ends. */
export async function withStageLease<T>(mode: LeaseMode, fn: () => Promise<T>): Promise<T> {
  const release = await leaseStage(mode);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * A working copy of the applied stack in `dest`: its configuration, the initialized
 * providers (symlinks into the mirror, kept as links) and the state. terraform runs there
 * without touching the shared folder. Returns `dest`.
 */
export function copyStage(stage: SharedLocalStage, dest: string): string {
  fs.mkdirSync(dest, { recursive: true });
  for (const name of ["cdk.tf.json", ".terraform.lock.hcl", "terraform.tfstate"]) fs.copyFileSync(path.join(stage.stackDir, name), path.join(dest, name));
  fs.cpSync(path.join(stage.stackDir, ".terraform"), path.join(dest, ".terraform"), { recursive: true, verbatimSymlinks: true });
  return dest;
}

/**
 * The stage's parameters `keys` as they are now, and a restore that puts each back as it
 * was: same value, type and KMS key (raw PutParameter: a placeholder is no operator's value,
 * and the key must stay the one Terraform gave the parameter, or the next plan differs).
 */
export async function snapshotParameters(ssm: SSMClient, keys: readonly ParameterKey[]): Promise<() => Promise<void>> {
  const names = keys.map((k) => parameterName(DEFAULT_PARAMETER_ROOT, k));
  const [values, described] = await Promise.all([
    ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true })),
    ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: names }], MaxResults: 50 })),
  ]);
  const saved = names.map((name) => {
    const p = values.Parameters?.find((x) => x.Name === name);
    const d = described.Parameters?.find((x) => x.Name === name);
    if (p?.Value === undefined || !d?.Type) throw new Error(`${name} is missing from the applied stage`);
    return { name, value: p.Value, type: d.Type as ParameterType, keyId: d.KeyId };
  });
  return async () => {
    for (const { name, value, type, keyId } of saved) {
      await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: type, ...(type === "SecureString" && keyId ? { KeyId: keyId } : {}), Overwrite: true }));
    }
  };
}
