/**
 * Starts and stops a real moto server on loopback for the local run and the tests.
 * A free port is picked by the OS, readiness is polled with a bounded loop, and the
 * server is stopped by the PID we started, never by name.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";

export interface MotoServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Asks the OS for a free loopback port. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers, at most `timeoutMs`, 100 ms apart. */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/** Starts `moto_server` on 127.0.0.1 and resolves when it answers HTTP. */
export async function startMoto(opts: { port?: number; timeoutMs?: number } = {}): Promise<MotoServer> {
  const port = opts.port ?? (await freePort());
  const bin = process.env.MOTO_SERVER_BIN ?? "moto_server";
  const child: ChildProcess = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: "false" },
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once("error", (e) => reject(new Error(`could not start ${bin}: ${e.message}`)));
    child.once("exit", (code) => reject(new Error(`${bin} exited with ${code}: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([waitForHttp(`${url}/moto-api/`, opts.timeoutMs ?? 20_000), exited]);
  } catch (err) {
    child.kill("SIGTERM");
    throw err;
  }
  exited.catch(() => undefined);
  return {
    url,
    port,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

/** Sends SIGTERM to the child we started, then SIGKILL after 5 s. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** One sent message as moto recorded it. */
export interface MotoSentMessage {
  readonly source?: string;
  readonly destinations?: string[];
  readonly raw_data: string;
}

/**
 * Every raw message moto's SES has accepted so far (all regions).
 *
 * moto 5.2.1 quirk: IAM GetUser without a name (the Terraform provider's account-id
 * lookup) tracks a phantom "default_user" whose group lookup raises, and from then on
 * /moto-api/data.json answers 500. Creating a real user of that name lets the lookup
 * succeed, so on a 500 we do that once and ask again.
 */
export async function motoSentMessages(url: string): Promise<MotoSentMessage[]> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(60_000) });
    if (res.ok) {
      const data = (await res.json()) as { ses?: { RawMessage?: MotoSentMessage[] } };
      return data.ses?.RawMessage ?? [];
    }
    await res.arrayBuffer();
    if (attempt === 0) await createPhantomIamUser(url);
  }
  throw new Error(`${url}/moto-api/data.json keeps failing; moto's state has a model it cannot serialize`);
}

async function createPhantomIamUser(url: string): Promise<void> {
  const iam = new IAMClient({ region: "us-east-1", endpoint: url, credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  try {
    await iam.send(new CreateUserCommand({ UserName: "default_user" }));
  } catch (err) {
    if ((err as Error).name !== "EntityAlreadyExistsException") throw err;
  } finally {
    iam.destroy();
  }
}
