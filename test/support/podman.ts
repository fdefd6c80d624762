/**
 * Podman for the container e2e test: a preflight that fails with what to install, the
 * sender's container definition read from a synthesized stack (Terraform references
 * resolved from the applied state), the `podman run` arguments that definition implies,
 * and a started container that is stopped and removed by its ID. Every podman call is
 * bounded in time.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CONTAINER_NAME } from "../../modules/scheduled-task";
import { exec, type ExecResult } from "../../scripts/image";

export const PODMAN_SETUP_HINT =
  "run `bash scripts/test-prerequisites.sh` as root (what `npm test` runs first): it installs podman, runc and catatonit and writes /etc/containers/containers.conf.d/50-vibe-digest.conf (runtime = \"runc\", default_ulimits this machine allows)";

/** Runs podman; rejects with its stderr on a non-zero exit. */
export async function podman(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const r = await exec("podman", args, { timeoutMs });
  if (r.code !== 0) throw new Error(`podman ${args.slice(0, 2).join(" ")} failed (${r.code}): ${r.stderr.trim().slice(-2000)}${hintFor(r)}`);
  return r.stdout;
}

function hintFor(r: ExecResult): string {
  if (/setting rlimit/.test(r.stderr)) return `\nthe default ulimits are above what this machine allows: ${PODMAN_SETUP_HINT}`;
  if (/crun|runtime .* not found|container-init|catatonit/.test(r.stderr)) return `\n${PODMAN_SETUP_HINT}`;
  return "";
}

/** Fails (never skips) when podman is not usable here, saying what to install. */
export async function requirePodman(): Promise<string> {
  const r = await exec("podman", ["--version"], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`podman is not installed, and the container e2e test needs it: ${PODMAN_SETUP_HINT}`);
  return r.stdout.trim();
}

/** Runs `node -e 0` in `image`: fails early, with the set-up hint, where podman cannot start a container. */
export async function smokeRun(image: string): Promise<void> {
  await podman(["run", "--rm", "--pull=never", "--network", "none", "--entrypoint", '["node","-e","0"]', image], 60_000);
}

/** The fields of an ECS container definition that decide how the container runs. */
export interface ContainerDefinition {
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly entryPoint?: string[];
  readonly environment?: { name: string; value: string }[];
  readonly user?: string;
  readonly readonlyRootFilesystem?: boolean;
  readonly privileged?: boolean;
  readonly linuxParameters?: { initProcessEnabled?: boolean; capabilities?: { add?: string[]; drop?: string[] } };
  readonly mountPoints?: { sourceVolume: string; containerPath: string; readOnly?: boolean }[];
  readonly [other: string]: unknown;
}

export interface TaskDefinition {
  readonly container: ContainerDefinition;
  readonly volumes: { name: string; host_path?: string; [other: string]: unknown }[];
}

/** The sender's container definition as `cdk.tf.json` in `stackDir` declares it (tokens unresolved). */
export function readTaskDefinition(stackDir: string): TaskDefinition {
  const json = JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")) as {
    resource?: { aws_ecs_task_definition?: Record<string, { container_definitions: string; volume?: TaskDefinition["volumes"] }> };
  };
  const defs = Object.values(json.resource?.aws_ecs_task_definition ?? {});
  if (defs.length !== 1) throw new Error(`expected one aws_ecs_task_definition in ${stackDir}, found ${defs.length}`);
  const containers = JSON.parse(defs[0]!.container_definitions) as ContainerDefinition[];
  const container = containers.find((c) => c.name === CONTAINER_NAME);
  if (!container) throw new Error(`the task definition has no "${CONTAINER_NAME}" container`);
  return { container, volumes: defs[0]!.volume ?? [] };
}

/** `terraform show -json` output, reduced to what {@link resolveReferences} reads. */
export interface TerraformStateJson {
  readonly values?: { root_module?: { resources?: { address: string; values: Record<string, unknown> }[] } };
}

/**
 * Replaces every `${type.name.attribute}` in the string values of `value` with that
 * attribute of the applied resource (the way Terraform itself would); an unknown
 * reference throws, so nothing unresolved reaches the container.
 */
export function resolveReferences<T>(value: T, state: TerraformStateJson): T {
  const resources = new Map((state.values?.root_module?.resources ?? []).map((r) => [r.address, r.values]));
  const resolveString = (s: string): string =>
    s.replace(/\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z0-9_]+)\}/g, (whole, address: string, attribute: string) => {
      const v = resources.get(address)?.[attribute];
      if (typeof v !== "string" && typeof v !== "number") throw new Error(`cannot resolve ${whole} from the applied state`);
      return String(v);
    });
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return resolveString(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

export interface RunArgsOptions {
  /** The image to run (must be on this machine: nothing is pulled). @default container.image */
  readonly image?: string;
  /**
   * Environment added on top of the task definition's, for the emulators only (endpoint,
   * test credentials, loopback URLs). A name the task definition already sets is refused:
   * the wiring may add, never change.
   */
  readonly wiring?: Record<string, string>;
  readonly cidFile: string;
  readonly name?: string;
}

/**
 * `podman run` arguments for the container as the task definition describes it. Fargate's
 * `awsvpc` network becomes `--network host` (moto, the feeds and the SendGrid emulator are
 * on loopback); `awslogs` becomes the attached stdout/stderr; a task volume without a host
 * path becomes an anonymous volume at the mount point, filled from the image as Fargate
 * fills a bind mount declared as a VOLUME in the image.
 */
export function podmanRunArgs(task: TaskDefinition, opts: RunArgsOptions): string[] {
  const c = task.container;
  if (c.privileged) throw new Error("the task definition asks for a privileged container");
  const args = ["run", "--pull=never", "--network", "host", "--cidfile", opts.cidFile];
  if (opts.name) args.push("--name", opts.name);
  if (c.readonlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
  if (c.user) args.push("--user", c.user);
  if (c.linuxParameters?.initProcessEnabled) args.push("--init");
  for (const cap of c.linuxParameters?.capabilities?.drop ?? []) args.push("--cap-drop", cap);
  for (const cap of c.linuxParameters?.capabilities?.add ?? []) args.push("--cap-add", cap);
  for (const m of c.mountPoints ?? []) {
    const volume = task.volumes.find((v) => v.name === m.sourceVolume);
    if (!volume) throw new Error(`mount point ${m.containerPath} names an undeclared volume "${m.sourceVolume}"`);
    if (volume.host_path) throw new Error(`volume "${volume.name}" has a host path: Fargate has none`);
    args.push("--volume", m.readOnly ? `${m.containerPath}:ro` : m.containerPath);
  }
  const taskEnv = new Map((c.environment ?? []).map((e) => [e.name, e.value]));
  for (const [name, value] of taskEnv) args.push("--env", `${name}=${value}`);
  for (const [name, value] of Object.entries(opts.wiring ?? {})) {
    if (taskEnv.has(name)) throw new Error(`wiring may not change ${name}: the task definition sets it`);
    args.push("--env", `${name}=${value}`);
  }
  if (c.entryPoint) args.push("--entrypoint", JSON.stringify(c.entryPoint));
  args.push(opts.image ?? c.image, ...(c.command ?? []));
  return args;
}

/** One output line of a running container, with the time it arrived. */
export interface TimedLine {
  readonly stream: "stdout" | "stderr";
  readonly line: string;
  readonly at: number;
}

export interface RunningContainer {
  readonly startedAt: number;
  readonly lines: TimedLine[];
  /** Resolves with the container's id once podman wrote it (bounded wait). */
  id(): Promise<string>;
  /** Resolves when the first line arrives (or rejects after `timeoutMs`). */
  firstLine(timeoutMs: number): Promise<TimedLine>;
  /** The container's exit code, as `podman run` returns it. */
  readonly exited: Promise<number>;
}

/** Starts `podman run` attached (stdout/stderr are the container's), with a hard time limit. */
export function startContainer(args: readonly string[], timeoutMs: number): RunningContainer {
  const cidFile = args[args.indexOf("--cidfile") + 1]!;
  const startedAt = performance.now();
  const child = spawn("podman", args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: TimedLine[] = [];
  const waiters: ((l: TimedLine) => void)[] = [];
  const collect = (stream: "stdout" | "stderr") => {
    let buf = "";
    return (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const l: TimedLine = { stream, line: buf.slice(0, nl), at: performance.now() };
        buf = buf.slice(nl + 1);
        lines.push(l);
        for (const w of waiters.splice(0)) w(l);
      }
    };
  };
  child.stdout.on("data", collect("stdout"));
  child.stderr.on("data", collect("stderr"));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  return {
    startedAt,
    lines,
    exited,
    async id() {
      for (let i = 0; i < 300; i++) {
        const id = fs.existsSync(cidFile) ? fs.readFileSync(cidFile, "utf8").trim() : "";
        if (/^[0-9a-f]{64}$/.test(id)) return id;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`podman wrote no container id to ${cidFile} within 15 s`);
    },
    firstLine(ms) {
      if (lines.length > 0) return Promise.resolve(lines[0]!);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the container printed nothing within ${ms} ms`)), ms);
        waiters.push((l) => {
          clearTimeout(t);
          resolve(l);
        });
      });
    },
  };
}

/** Removes the container with this id and its anonymous volumes (no error if it is gone). */
export async function removeContainer(id: string): Promise<void> {
  await exec("podman", ["rm", "--force", "--volumes", "--time", "5", id], { timeoutMs: 60_000 });
}

/** One request the recording proxy forwarded. */
export interface ProxiedRequest {
  readonly at: number;
  readonly method: string;
  /** `X-Amz-Target` (JSON protocols: SSM, DynamoDB) or the `Action` of a query request (SES). */
  readonly operation: string;
}

export interface RecordingProxy {
  readonly url: string;
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of moto that notes when each AWS request arrived and
 * which operation it was, so the test can time "container start to first request".
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const target = req.headers["x-amz-target"];
      const action = /(?:^|&)Action=([A-Za-z0-9]+)/.exec(body.toString("latin1"))?.[1];
      requests.push({ at: performance.now(), method: req.method ?? "", operation: String(target ?? action ?? req.url ?? "") });
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, timeout: 30_000 },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.once("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
