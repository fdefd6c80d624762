/**
 * The sender's container image: build it, make the offline base it can be built from, and
 * publish it to a stage's ECR repository.
 *
 *   npm run image -- build [--engine E] [--base IMAGE | --local-base] [--tag T]
 *   npm run image -- base  [--engine E]          the local base from this machine's node
 *   npm run image -- publish --stage <dev|prod> [--repository URL] [--base IMAGE] [--engine E] [--dry-run]
 *   (npm run image:build, image:base and image:publish are the same subcommands)
 *
 * `--base` pins the production base, e.g. node:24-bookworm-slim@sha256:... (recommended).
 * Engine: docker where a Docker engine answers (`docker info`; a bare docker CLI does not
 * count), else podman, else buildah; `--engine` or VIBE_IMAGE_ENGINE chooses one.
 *
 * Tags: the git sha of the last commit that changed an image input ({@link IMAGE_INPUTS}),
 * so an unchanged sender keeps its tag across commits. `publish` refuses uncommitted
 * changes to those inputs (the tag would lie), pushes `<repository>:<sha>` once (the
 * repository's tags are immutable), and says whether the stage's `imageTag` in
 * modules/stages.ts already takes it. Setting it there is a reviewed change; a deploy then
 * registers a new task definition revision exactly when the image changed.
 *
 * Registry login: when the `aws` CLI is present, `aws ecr get-login-password` is piped to
 * `<engine> login --password-stdin` (the password never reaches argv or output); otherwise
 * an existing login or the ECR credential helper is used.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Option } from "commander";
import { devStage, localStage, prodStage, type StageConfig, type StageName } from "../modules/stages";
import { PROJECT_ROOT, terraform } from "./lib/terraform";
import { AWS_ENV_DOCS, Cli, EXIT, STANDARD_EXIT_DOCS, processIo, stageOption, type CliIo } from "../app/src/cli-kit";

export type Engine = "docker" | "podman" | "buildah";

/** Name of the image `build` makes (without a registry, it stays on this machine). */
export const LOCAL_IMAGE = "localhost/vibe-digest";
/** The base made from this machine's node (no registry involved). */
export const LOCAL_BASE_IMAGE = "localhost/vibe-digest-node-base:local";
/** Label on the local base that says which node binary it holds (rebuilt when that changes). */
const BASE_LABEL = "dev.vibe-digest.node";
export const DOCKERFILE = path.join(PROJECT_ROOT, "app", "Dockerfile");
/** Paths whose last commit names the image (changing anything else keeps the tag). */
export const IMAGE_INPUTS = ["app", "package-lock.json", "scripts/bundle.mjs", ".dockerignore"] as const;

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (bounded by `timeoutMs`); never throws for a non-zero exit. */
export function exec(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? PROJECT_ROOT, env: opts.env ?? process.env, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${cmd}: ${err.message}` });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

async function must(cmd: string, args: readonly string[], opts: Parameters<typeof exec>[2] = {}): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} ... exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-3000)}`);
  return r.stdout;
}

/** Which engine builds here: docker only when its engine answers, then podman, then buildah. */
export async function detectEngine(preferred = process.env.VIBE_IMAGE_ENGINE): Promise<Engine> {
  if (preferred) {
    if (!["docker", "podman", "buildah"].includes(preferred)) throw new Error(`unknown image engine "${preferred}" (docker, podman or buildah)`);
    return preferred as Engine;
  }
  if ((await exec("docker", ["info"], { timeoutMs: 15_000 })).code === 0) return "docker";
  if ((await exec("podman", ["--version"], { timeoutMs: 15_000 })).code === 0) return "podman";
  if ((await exec("buildah", ["--version"], { timeoutMs: 15_000 })).code === 0) return "buildah";
  throw new Error("no image engine: a Docker engine does not answer (`docker info`), and neither podman nor buildah is installed (Debian: apt-get install podman runc)");
}

export interface BundleInfo {
  readonly file: string;
  readonly bytes: number;
  readonly ms: number;
}

/** Runs scripts/bundle.mjs (esbuild) and says where the bundle went and how big it is. */
export async function bundleSender(): Promise<BundleInfo> {
  const out = await must(process.execPath, [path.join(PROJECT_ROOT, "scripts", "bundle.mjs"), "--json"], { timeoutMs: 120_000 });
  return JSON.parse(out.trim().split("\n").pop()!) as BundleInfo;
}

/** The git sha that names the image, and whether the image inputs have uncommitted changes. */
export async function imageRevision(): Promise<{ sha: string; dirty: boolean; head: string }> {
  const sha = (await must("git", ["log", "-1", "--format=%H", "--", ...IMAGE_INPUTS])).trim();
  const head = (await must("git", ["rev-parse", "HEAD"])).trim();
  const dirty = (await must("git", ["status", "--porcelain", "--", ...IMAGE_INPUTS])).trim() !== "";
  if (!/^[0-9a-f]{40}$/.test(sha)) throw new Error("no commit touches the image inputs yet: commit app/ first");
  return { sha, dirty, head };
}

/** The origin remote as an https URL without credentials, for the source label ("" if none). */
async function sourceUrl(): Promise<string> {
  const r = await exec("git", ["remote", "get-url", "origin"], { timeoutMs: 10_000 });
  if (r.code !== 0) return "";
  const raw = r.stdout.trim().replace(/^git@([^:]+):/, "https://$1/").replace(/\.git$/, "");
  try {
    const u = new URL(raw);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "";
  }
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

export interface BuildOptions {
  readonly engine: Engine;
  /** Every tag to give the image (the first is what `build` reports). */
  readonly tags: readonly string[];
  /** @default - the Dockerfile's default (the production Node LTS base) */
  readonly baseImage?: string;
  /** Never pull anything (the base must be on this machine). @default false */
  readonly offline?: boolean;
  readonly revision?: string;
  readonly version?: string;
  readonly source?: string;
  readonly timeoutMs?: number;
}

export interface BuiltImage {
  readonly id: string;
  readonly tags: readonly string[];
  readonly bytes: number;
  readonly ms: number;
}

/** Builds app/Dockerfile from the repository root (the bundle must exist: see {@link bundleSender}). */
export async function buildImage(opts: BuildOptions): Promise<BuiltImage> {
  const bundle = path.join(PROJECT_ROOT, ".build", "app", "digest.cjs");
  if (!fs.existsSync(bundle)) throw new Error(`${path.relative(PROJECT_ROOT, bundle)} is missing: run node scripts/bundle.mjs first`);
  const iidFile = path.join(PROJECT_ROOT, ".build", `image-${process.pid}-${Date.now()}.iid`);
  const buildArgs: Record<string, string> = {
    ...(opts.baseImage ? { BASE_IMAGE: opts.baseImage } : {}),
    VERSION: opts.version ?? packageVersion(),
    REVISION: opts.revision ?? "unknown",
    SOURCE: opts.source ?? "",
  };
  // The same values as --label too: podman 4.3 (buildah 1.28) keys its layer cache on the
  // unexpanded LABEL line, so a cached build would keep the previous build's revision.
  const labels: Record<string, string> = {
    "org.opencontainers.image.version": buildArgs.VERSION!,
    "org.opencontainers.image.revision": buildArgs.REVISION!,
    "org.opencontainers.image.source": buildArgs.SOURCE!,
  };
  const args = [
    "build",
    "-f", DOCKERFILE,
    ...Object.entries(buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
    ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ...(opts.offline && opts.engine !== "docker" ? ["--pull=never"] : []),
    "--iidfile", iidFile,
    ...opts.tags.flatMap((t) => ["-t", t]),
    PROJECT_ROOT,
  ];
  const t0 = performance.now();
  try {
    await must(opts.engine, args, { timeoutMs: opts.timeoutMs ?? 600_000 });
    const id = fs.readFileSync(iidFile, "utf8").trim().replace(/^sha256:/, "");
    return { id, tags: opts.tags, bytes: await imageBytes(opts.engine, id), ms: Math.round(performance.now() - t0) };
  } finally {
    fs.rmSync(iidFile, { force: true });
  }
}

/** The image's config and size as the engine reports them (undefined when it is not there). */
export async function inspectImage(engine: Engine, ref: string): Promise<{ id: string; bytes: number; config: ImageConfig } | undefined> {
  const r = engine === "buildah" ? await exec("buildah", ["inspect", "--type", "image", ref], { timeoutMs: 30_000 }) : await exec(engine, ["image", "inspect", ref], { timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  const parsed = JSON.parse(r.stdout) as unknown;
  const j = (Array.isArray(parsed) ? parsed[0] : parsed) as { Id?: string; FromImageID?: string; Size?: number; Config?: ImageConfig; OCIv1?: { config?: ImageConfig } };
  return { id: (j.Id ?? j.FromImageID ?? "").replace(/^sha256:/, ""), bytes: j.Size ?? 0, config: j.Config ?? j.OCIv1?.config ?? {} };
}

/** The parts of an image config the project cares about. */
export interface ImageConfig {
  readonly User?: string;
  readonly Entrypoint?: string[] | null;
  readonly Cmd?: string[] | null;
  readonly Env?: string[] | null;
  readonly Volumes?: Record<string, unknown> | null;
  readonly WorkingDir?: string;
  readonly Labels?: Record<string, string> | null;
}

async function imageBytes(engine: Engine, ref: string): Promise<number> {
  return (await inspectImage(engine, ref))?.bytes ?? 0;
}

/** Shared libraries (and the dynamic loader) a binary needs, as `ldd` lists them. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await exec("ldd", [binary], { timeoutMs: 30_000 });
  if (r.code !== 0) {
    if (/not a dynamic executable|statically linked/.test(r.stdout + r.stderr)) return [];
    throw new Error(`ldd ${binary} failed: ${r.stderr.trim()}`);
  }
  const libs = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/** Which node binary a base from this machine holds: its version and content hash. */
async function nodeFingerprint(node: string): Promise<string> {
  const version = (await must(node, ["--version"], { timeoutMs: 30_000 })).trim();
  const hash = createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(node).on("data", (d) => hash.update(d)).once("end", resolve).once("error", reject);
  });
  return `${version} sha256:${hash.digest("hex").slice(0, 16)}`;
}

/**
 * Makes {@link LOCAL_BASE_IMAGE} from this machine's own node, pulling nothing: the node
 * binary, the shared libraries `ldd` lists, the dynamic loader and an empty /tmp (1777),
 * in a `FROM scratch` image with PATH set. No shell, no /etc/passwd, no package manager.
 * Node carries its own CA bundle and ICU data, so nothing else is needed. Skipped when an
 * image of that name already holds the same node binary.
 */
export async function ensureLocalBase(engine: Engine, log: (line: string) => void = () => undefined): Promise<{ built: boolean; ms: number; bytes: number }> {
  const t0 = performance.now();
  const node = fs.realpathSync(process.env.VIBE_BASE_NODE ?? process.execPath);
  const fingerprint = await nodeFingerprint(node);
  const existing = await inspectImage(engine, LOCAL_BASE_IMAGE);
  if (existing?.config.Labels?.[BASE_LABEL] === fingerprint) return { built: false, ms: Math.round(performance.now() - t0), bytes: existing.bytes };

  log(`making ${LOCAL_BASE_IMAGE} from ${node} (${fingerprint})`);
  const ctx = path.join(PROJECT_ROOT, ".build", "node-base");
  const rootfs = path.join(ctx, "rootfs");
  fs.rmSync(ctx, { recursive: true, force: true });
  fs.mkdirSync(path.join(rootfs, "usr", "local", "bin"), { recursive: true });
  fs.copyFileSync(node, path.join(rootfs, "usr", "local", "bin", "node"));
  fs.chmodSync(path.join(rootfs, "usr", "local", "bin", "node"), 0o755);
  for (const lib of await sharedLibraries(node)) {
    const target = path.join(rootfs, lib);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(lib), target); // the file itself, under the name the loader looks for
    fs.chmodSync(target, 0o755);
  }
  fs.mkdirSync(path.join(rootfs, "tmp"));
  fs.chmodSync(path.join(rootfs, "tmp"), 0o1777);
  fs.writeFileSync(
    path.join(ctx, "Containerfile"),
    ["FROM scratch", "COPY rootfs/ /", "ENV PATH=/usr/local/bin:/usr/bin:/bin", `LABEL ${BASE_LABEL}="${fingerprint}"`, ""].join("\n"),
  );
  try {
    await must(engine, ["build", ...(engine === "docker" ? [] : ["--pull=never"]), "-f", path.join(ctx, "Containerfile"), "-t", LOCAL_BASE_IMAGE, ctx], { timeoutMs: 600_000 });
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
  return { built: true, ms: Math.round(performance.now() - t0), bytes: await imageBytes(engine, LOCAL_BASE_IMAGE) };
}

function stageConfig(name: string): StageConfig {
  const stages: Record<StageName, () => StageConfig> = { local: () => localStage(), dev: devStage, prod: prodStage };
  const make = stages[name as StageName];
  if (!make) throw new Error(`unknown stage "${name}" (local, dev, prod)`);
  return make();
}

/** The stage's ECR repository URL from its Terraform outputs (the stage must be deployed). */
async function repositoryUrlOf(stage: StageConfig): Promise<string> {
  const outdir = path.resolve(process.env.CDKTF_OUTDIR ?? path.join(PROJECT_ROOT, "cdktf.out"));
  const dir = path.join(outdir, "stacks", stage.stackName);
  if (!fs.existsSync(path.join(dir, "cdk.tf.json"))) throw new Error(`${dir} has no synthesized stack: run npm run synth:${stage.name} (and deploy it) first, or pass --repository`);
  await terraform(["init", "-input=false", "-no-color"], { cwd: dir });
  const out = JSON.parse((await terraform(["output", "-json"], { cwd: dir })).stdout) as Record<string, { value: unknown }>;
  const url = out.ecr_repository_url?.value;
  if (typeof url !== "string" || !url) throw new Error(`the ${stage.name} stage has no ecr_repository_url output: deploy it first (npm run deploy:${stage.name})`);
  return url;
}

export interface PublishResult {
  readonly image: string;
  readonly tag: string;
  readonly pushed: boolean;
  readonly alreadyPublished: boolean;
  readonly stageTakesTag: boolean;
}

/** Builds the production image, tags it `<repository>:<sha>` and pushes it (unless `dryRun`). */
export async function publish(
  stageName: string,
  opts: { engine?: Engine; repository?: string; baseImage?: string; dryRun?: boolean; log?: (line: string) => void } = {},
): Promise<PublishResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const stage = stageConfig(stageName);
  if (stage.target.kind !== "aws" && !opts.dryRun) throw new Error(`the ${stage.name} stage runs on an emulator, which serves no registry: use --dry-run`);
  const rev = await imageRevision();
  if (rev.dirty) throw new Error(`uncommitted changes in ${IMAGE_INPUTS.join(", ")}: commit them first, so the tag ${rev.sha.slice(0, 12)} names what the image holds`);
  const repository = opts.repository ?? (await repositoryUrlOf(stage));
  if (!/^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+$/.test(repository)) throw new Error(`"${repository}" is not a repository URL (host/name)`);
  const tag = rev.sha;
  const image = `${repository}:${tag}`;
  const engine = opts.engine ?? (await detectEngine());
  const bundle = await bundleSender();
  log(`bundle ${(bundle.bytes / 1024).toFixed(0)} KiB`);
  const built = await buildImage({ engine, tags: [image], baseImage: opts.baseImage, offline: opts.baseImage?.startsWith("localhost/"), revision: rev.sha, source: await sourceUrl() });
  log(`built ${image} (${(built.bytes / 1e6).toFixed(1)} MB, ${engine})`);
  const stageTakesTag = stage.imageTag === tag;
  let pushed = false;
  let alreadyPublished = false;
  if (!opts.dryRun) {
    await login(engine, repository, log);
    const r = await exec(engine, ["push", image], { timeoutMs: 900_000 });
    if (r.code === 0) pushed = true;
    else if (/already exists|ImageTagAlreadyExists|tag invalid/i.test(r.stderr)) alreadyPublished = true;
    else throw new Error(`${engine} push ${image} failed: ${r.stderr.trim().slice(-2000)}`);
    log(pushed ? `pushed ${image}` : `${image} is already in the repository (same inputs, same tag; tags are immutable)`);
  }
  log(
    stageTakesTag
      ? `the ${stage.name} stage already takes ${tag}: a deploy leaves its task definition as it is`
      : `to roll it out, set imageTag of the ${stage.name} stage in modules/stages.ts to "${tag}" (now "${stage.imageTag}") in a reviewed change; its deploy then registers a new task definition revision`,
  );
  return { image, tag, pushed, alreadyPublished, stageTakesTag };
}

/** Logs the engine in to ECR with the aws CLI when it is there; the password goes through stdin only. */
async function login(engine: Engine, repository: string, log: (line: string) => void): Promise<void> {
  const registry = repository.split("/")[0]!;
  const region = /\.ecr\.([a-z0-9-]+)\.amazonaws\.com/.exec(registry)?.[1];
  if (!region) return log(`${registry} is not an ECR registry: using the engine's existing login`);
  if ((await exec("aws", ["--version"], { timeoutMs: 15_000 })).code !== 0) return log("no aws CLI: using the engine's existing login or the ECR credential helper");
  const pw = await exec("aws", ["ecr", "get-login-password", "--region", region], { timeoutMs: 60_000 });
  if (pw.code !== 0) throw new Error(`aws ecr get-login-password failed (exit ${pw.code}); check the pipeline's AWS credentials`);
  const r = await exec(engine, ["login", "--username", "AWS", "--password-stdin", registry], { input: pw.stdout.trim(), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${engine} login ${registry} failed (exit ${r.code})`);
  log(`logged in to ${registry}`);
}

/** The `image` command line (one convention: app/src/cli-kit.ts). */
export function imageCli(io: CliIo = processIo()): Cli {
  const cli = new Cli("image", {
    invocation: "npm run image --",
    description: "Build the sender's container image, make the offline base it can be built from, and publish it to a stage's ECR repository.",
    env: [
      { name: "VIBE_IMAGE_ENGINE", description: "docker, podman or buildah (default: docker when its engine answers, else podman, else buildah)" },
      { name: "VIBE_BASE_NODE", description: "the node binary the local base is made from (default: the node running this command, the project's pinned node)" },
      ...AWS_ENV_DOCS,
    ],
    exitCodes: [STANDARD_EXIT_DOCS.ok, { code: EXIT.failed, meaning: "the build, login or push failed, or publish refused (uncommitted image inputs, an emulator stage without --dry-run)" }, STANDARD_EXIT_DOCS.internal, STANDARD_EXIT_DOCS.usage],
    examples: ["npm run image -- build --local-base", "npm run image -- publish --stage prod --base node:24-bookworm-slim@sha256:..."],
  }, io);
  const engineOption = () => new Option("--engine <engine>", "container engine").choices(["docker", "podman", "buildah"]);
  type Opts = { json?: boolean; engine?: string; base?: string; localBase?: boolean; tag?: string; repository?: string; dryRun?: boolean; stage?: StageName };

  cli.action<Opts>(cli.command("base", `make ${LOCAL_BASE_IMAGE} from this machine's node (offline builds)`).addOption(engineOption()), async ({ out, opts }) => {
    const engine = await detectEngine(opts.engine);
    const r = await ensureLocalBase(engine, (l) => out.info(l));
    out.result({ ok: true, image: LOCAL_BASE_IMAGE, built: r.built, bytes: r.bytes, ms: r.ms, exitCode: EXIT.ok }, `${LOCAL_BASE_IMAGE}: ${r.built ? "built" : "already there"} (${(r.bytes / 1e6).toFixed(1)} MB, ${(r.ms / 1000).toFixed(1)} s)`);
    return EXIT.ok;
  });

  cli.action<Opts>(
    cli
      .command("build", `bundle the sender and build ${LOCAL_IMAGE}:<tag>`)
      .addOption(engineOption())
      .addOption(new Option("--base <image>", "base image, e.g. node:24-bookworm-slim@sha256:... (default: the Dockerfile's)").conflicts("localBase"))
      .option("--local-base", `build offline on ${LOCAL_BASE_IMAGE} (made first if missing)`)
      .option("--tag <tag>", "tag (default: the sha of the last commit that changed an image input)"),
    async ({ out, opts }) => {
      const log = (l: string) => out.info(l);
      const engine = await detectEngine(opts.engine);
      const bundle = await bundleSender();
      log(`bundle .build/app/digest.cjs: ${(bundle.bytes / 1024).toFixed(0)} KiB (${bundle.ms} ms)`);
      let baseImage = opts.base;
      if (opts.localBase) {
        await ensureLocalBase(engine, log);
        baseImage = LOCAL_BASE_IMAGE;
      }
      const rev = await imageRevision();
      const tag = opts.tag ?? `${rev.sha.slice(0, 12)}${rev.dirty ? "-dirty" : ""}`;
      const built = await buildImage({ engine, tags: [`${LOCAL_IMAGE}:${tag}`], baseImage, offline: opts.localBase === true, revision: rev.dirty ? `${rev.head}-dirty` : rev.head, source: await sourceUrl() });
      log(`built with ${engine} in ${(built.ms / 1000).toFixed(1)} s${baseImage ? ` on ${baseImage}` : ""}`);
      out.result({ ok: true, image: `${LOCAL_IMAGE}:${tag}`, bytes: built.bytes, engine, exitCode: EXIT.ok }, `${LOCAL_IMAGE}:${tag} (${(built.bytes / 1e6).toFixed(1)} MB)`);
      return EXIT.ok;
    },
  );

  cli.action<Opts>(
    cli
      .command("publish", "push the image tagged with its inputs' commit sha to the stage's ECR repository")
      .addOption(stageOption(["dev", "prod", "local"]))
      .addOption(engineOption())
      .option("--repository <url>", "repository URL (default: the stage's ecr_repository_url output)")
      .option("--base <image>", "base image (pin it by digest)")
      .option("--dry-run", "say what would be pushed, push nothing"),
    async ({ out, opts }) => {
      const engine = opts.engine ? await detectEngine(opts.engine) : undefined;
      const r = await publish(opts.stage!, { engine, repository: opts.repository, baseImage: opts.base, dryRun: opts.dryRun === true, log: (l) => out.info(l) });
      out.result({ ok: true, ...r, exitCode: EXIT.ok }, r.image);
      return EXIT.ok;
    },
  );
  return cli;
}

if (require.main === module) {
  imageCli().run(process.argv.slice(2)).then((code) => process.exit(code));
}
