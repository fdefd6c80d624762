/**
 * Synth benchmark (not a test): time and peak memory (of the whole process tree) of
 * synthesizing every stack, our way (scripts/synth.mjs: esbuild strips the types, plain node
 * runs main.ts) against the stock cdktf way: `ts-node main.ts` (type-checked, as the cdktf
 * TypeScript template runs it) with the provider imported from the package root
 * (the `iamPolicy` namespace of the package's index) instead of our per-service deep imports.
 * That package-root import costs seconds and hundreds of MB per synth: it is the baseline
 * here, written only into the generated copy under .tmp/, never into the project's sources.
 *
 * The benchmark sets the baseline up itself: ts-node from the npm registry into
 * .tmp/bench-cache/ (not the project's package.json; it uses the project's typescript), and a
 * copy of main.ts and every local file it imports under .tmp/bench-stock/ with each
 * `@cdktf/provider-aws/lib/<service>` import rewritten to the package root. Before timing,
 * both synthesize once and their stacks' cdk.tf.json (minus cdktf's metadata block) must be
 * identical, so both sides do the same work.
 *
 *   npm run bench -- --only synth [--rounds N]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { interleave, measureProcess, stats, type ProcessSample, type Stats } from "./lib/measure";

const ROOT = path.resolve(__dirname, "..");
export const TS_NODE_VERSION = "10.9.2";
const PROVIDER = "@cdktf/provider-aws";

/** Namespace names of the provider's package root, by service folder ("iam-policy" -> "iamPolicy"). */
function providerNamespaces(): Map<string, string> {
  const index = fs.readFileSync(path.join(ROOT, "node_modules", PROVIDER, "lib", "index.d.ts"), "utf8");
  return new Map([...index.matchAll(/^export \* as (\w+) from '\.\/([\w-]+)';$/gm)].map((m) => [m[2]!, m[1]!]));
}

/**
 * Rewrites one file's per-service provider imports to the package root, the way a cdktf
 * project written from the template imports them:
 *
 *   import { IamRole, type IamRoleConfig as C } from "<provider>/lib/iam-role";
 * becomes
 *   import { iamRole } from "<provider>";   (the package root)
 *   import IamRole = iamRole.IamRole;
 *   import C = iamRole.IamRoleConfig;
 *
 * (an import alias carries both the class and its type, as the deep import did).
 */
export function rootImports(source: string, namespaces: ReadonlyMap<string, string>): string {
  const used: string[] = [];
  const out = source.replace(/^import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"@cdktf\/provider-aws\/lib\/([\w-]+)";[ \t]*$/gm, (_, names: string, dir: string) => {
    const ns = namespaces.get(dir);
    if (!ns) throw new Error(`${PROVIDER} has no namespace for lib/${dir}`);
    used.push(ns);
    return names
      .split(",")
      .map((s) => s.trim().replace(/^type\s+/, ""))
      .filter(Boolean)
      .map((spec) => {
        const [name, alias] = spec.split(/\s+as\s+/);
        return `import ${alias ?? name} = ${ns}.${name};`;
      })
      .join("\n");
  });
  if (!used.length) return source;
  // One root import, before the first alias that needs it (imports are hoisted anyway).
  const first = out.search(/^import \w+ = /m);
  return `${out.slice(0, first)}import { ${[...new Set(used)].join(", ")} } from "${PROVIDER}";\n${out.slice(first)}`;
}

export interface StockSetup {
  /** The rewritten copy of the app (main.ts at its root). */
  readonly dir: string;
  /** ts-node's executable script. */
  readonly tsNode: string;
  /** Files copied, and how many of them had provider imports rewritten. */
  readonly files: number;
  readonly rewritten: number;
}

/** Installs ts-node into .tmp/bench-cache once (npm registry) and writes the rewritten copy. */
export async function prepareStock(log: (line: string) => void = () => undefined): Promise<StockSetup> {
  const cache = path.join(ROOT, ".tmp", "bench-cache", `ts-node-${TS_NODE_VERSION}`);
  const tsNode = path.join(cache, "node_modules", "ts-node", "dist", "bin.js");
  if (!fs.existsSync(tsNode)) {
    log(`installing ts-node ${TS_NODE_VERSION} from the npm registry into ${path.relative(ROOT, cache)} ...`);
    fs.mkdirSync(cache, { recursive: true });
    // Without the npm_* variables of the `npm run` around us (they would point npm at the project).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    // Its peers (typescript, @types/node) are the project's own: the copy lives under the
    // project, so they resolve from the project's node_modules.
    execFileSync("npm", ["install", "--prefix", cache, `ts-node@${TS_NODE_VERSION}`, "--legacy-peer-deps", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"], {
      cwd: cache,
      env,
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 300_000,
    });
  }
  // Every local file main.ts reaches, as esbuild resolves them for our own synth.
  const meta = await build({ entryPoints: [path.join(ROOT, "main.ts")], bundle: true, write: false, platform: "node", format: "cjs", packages: "external", metafile: true, logLevel: "warning", outfile: "x.cjs" });
  const inputs = Object.keys(meta.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  const dir = path.join(ROOT, ".tmp", "bench-stock");
  fs.rmSync(dir, { recursive: true, force: true });
  const namespaces = providerNamespaces();
  let rewritten = 0;
  for (const rel of [...inputs, "tsconfig.json"]) {
    const from = path.join(ROOT, rel);
    const to = path.join(dir, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    const text = fs.readFileSync(from, "utf8");
    const next = rel.endsWith(".ts") ? rootImports(text, namespaces) : text;
    if (next !== text) rewritten++;
    fs.writeFileSync(to, next);
  }
  return { dir, tsNode, files: inputs.length, rewritten };
}

export interface SynthVariant {
  readonly label: string;
  run(outdir: string): Promise<ProcessSample>;
}

function synthEnv(outdir: string): NodeJS.ProcessEnv {
  return { ...process.env, CDKTF_OUTDIR: outdir, AWS_EC2_METADATA_DISABLED: "true", NODE_OPTIONS: "--disable-warning=NodeVersionSupportWarning" };
}

/** Our synth command: cdktf.json's `app` (what `cdktf synth` and `npm run synth` run), with this Node. */
export function oursCommand(): string[] {
  const app = (JSON.parse(fs.readFileSync(path.join(ROOT, "cdktf.json"), "utf8")) as { app: string }).app.split(/\s+/);
  if (app[0] !== "node") throw new Error(`cdktf.json's app does not start with node: ${app.join(" ")}`);
  return app.slice(1);
}

/** Ours, as cdktf.json runs it (the bundle cached, as on any synth after the first). */
export const oursSynth: SynthVariant = {
  label: `ours: node ${oursCommand().join(" ")} (bundle cached)`,
  run: (outdir) => measureProcess(process.execPath, oursCommand(), { cwd: ROOT, env: synthEnv(outdir), timeoutMs: 120_000 }),
};

/** Ours after a source change: the cached bundle removed first, so esbuild runs. */
export const oursRebuildSynth: SynthVariant = {
  label: "ours after a source change (bundle rebuilt)",
  run: (outdir) => {
    fs.rmSync(path.join(ROOT, ".build", "synth"), { recursive: true, force: true });
    return measureProcess(process.execPath, oursCommand(), { cwd: ROOT, env: synthEnv(outdir), timeoutMs: 120_000 });
  },
};

/** The stock way, on the rewritten copy. */
export function stockSynth(setup: StockSetup): SynthVariant {
  return {
    label: `stock: ts-node ${TS_NODE_VERSION} main.ts (type-checked, package-root import)`,
    run: (outdir) => measureProcess(process.execPath, [setup.tsNode, "main.ts"], { cwd: setup.dir, env: synthEnv(outdir), timeoutMs: 300_000 }),
  };
}

/** Each stack's cdk.tf.json without cdktf's "//" metadata block (it names the cdktf version and the backend's path). */
export function stacksOf(outdir: string): Record<string, unknown> {
  const dir = path.join(outdir, "stacks");
  return Object.fromEntries(
    fs.readdirSync(dir).sort().map((s) => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, s, "cdk.tf.json"), "utf8")) as Record<string, unknown>;
      delete json["//"];
      return [s, json];
    }),
  );
}

/** Resources per stack, e.g. "vibe-digest-prod=83". */
export function resourceCounts(stacks: Record<string, unknown>): string[] {
  return Object.entries(stacks).map(([s, json]) => {
    const resources = (json as { resource?: Record<string, object> }).resource ?? {};
    return `${s}=${Object.values(resources).reduce((n, byName) => n + Object.keys(byName).length, 0)}`;
  });
}

export interface SynthFigures {
  readonly label: string;
  readonly ms: Stats;
  readonly rssMb: Stats;
}

export interface SynthResult {
  readonly ours: SynthFigures;
  readonly rebuilt: SynthFigures;
  readonly stock: SynthFigures;
  readonly stacks: readonly string[];
  readonly setup: StockSetup;
}

/**
 * Sets the stock baseline up, checks that it synthesizes the same stacks as ours, then
 * times ours (bundle cached), ours after a source change and the stock way, interleaved,
 * for `rounds` rounds.
 */
export async function measureSynth(rounds: number, log: (line: string) => void = () => undefined): Promise<SynthResult> {
  const setup = await prepareStock(log);
  log(`stock copy: ${setup.files} files, ${setup.rewritten} with provider imports rewritten to the package root`);
  const tmp = path.join(ROOT, ".tmp", "bench-synth");
  const variants = { ours: oursSynth, rebuilt: oursRebuildSynth, stock: stockSynth(setup) };
  type Name = keyof typeof variants;
  const run = async (name: Name): Promise<ProcessSample> => {
    const outdir = path.join(tmp, name);
    fs.rmSync(outdir, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const r = await variants[name].run(outdir);
    if (r.code !== 0) throw new Error(`${variants[name].label} exited ${r.code}: ${r.stderr.slice(-3000)}`);
    return r;
  };
  try {
    log("checking that the stock way synthesizes the same stacks as ours (a first stock run takes 15-40 s) ...");
    await run("ours");
    await run("stock");
    const ours = stacksOf(path.join(tmp, "ours"));
    const stock = stacksOf(path.join(tmp, "stock"));
    if (JSON.stringify(ours) !== JSON.stringify(stock)) {
      const differ = Object.keys({ ...ours, ...stock }).filter((s) => JSON.stringify(ours[s]) !== JSON.stringify(stock[s]));
      throw new Error(`the stock baseline synthesized different stacks (${differ.join(", ")}): the comparison would not be fair`);
    }
    const stacks = resourceCounts(ours);
    log(`same ${stacks.length} stacks (${stacks.join(", ")} resources)`);
    const samples = await interleave(
      rounds,
      { ours: () => run("ours"), rebuilt: () => run("rebuilt"), stock: () => run("stock") },
      {
        before: (s) => s.variant === "stock" && log(`round ${s.round}/${s.rounds} stock ...`),
        after: (s, r) => log(`round ${s.round}/${s.rounds} ${s.variant}: ${(r.ms / 1000).toFixed(2)} s, peak ${r.peakRssMb.toFixed(0)} MB`),
      },
    );
    const figures = (name: Name): SynthFigures => ({ label: variants[name].label, ms: stats(samples[name].map((x) => x.ms)), rssMb: stats(samples[name].map((x) => x.peakRssMb)) });
    return { ours: figures("ours"), rebuilt: figures("rebuilt"), stock: figures("stock"), stacks, setup };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
