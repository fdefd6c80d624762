// Synthesizes the CDKTF app without ts-node: main.ts and everything it imports (modules/,
// app/src/contract.ts, cdktf, constructs, the provider's classes) as one esbuild bundle that
// plain node runs. Type checking is `npm run typecheck`'s job, not every synth's.
// cdktf.json and `npm run synth` run this file as:
//
//   node --max-semi-space-size=1 --no-opt --no-maglev scripts/synth.mjs
//
// What makes it fast and lean (measured by `npm run bench -- --only synth`; bench/RESULTS.md):
// - the bundle is cached by the content of its inputs (scripts/lib/bundle-cache.mjs): an
//   unchanged app starts no esbuild at all; a changed one is rebuilt in ~0.1-0.2 s;
// - one file instead of ~540 modules: no module resolution or per-file reads at start;
// - cdktf's zip library (archiver, ~20 modules with their streams and globbing) is loaded
//   when an asset is archived, not at start: this app has no assets;
// - the flags above: a young generation of 1 MB semi-spaces (V8 otherwise grows it to
//   16 MB each for a process that lives a second) and no optimizing compilers (Maglev,
//   Turbofan: they compile in threads what runs once); ~40 MB less peak RSS, same CPU time.
//   Without them (`node scripts/synth.mjs`) it synthesizes the same, with ~130 MB.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { cachedBundle } from "./lib/bundle-cache.mjs";

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));

/** cdktf requires archiver at load; only archiving an asset calls it. */
const lazyArchiver = {
  name: "lazy-archiver",
  setup(b) {
    b.onLoad({ filter: /[\\/]cdktf[\\/]lib[\\/]private[\\/]fs\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      // Another cdktf release may load it differently: then it is left as it is (slower, same output).
      const contents = source.replace('const archiver = require("archiver");', 'let archiverModule;\nconst archiver = (...a) => (archiverModule ??= require("archiver"))(...a);');
      return { contents, loader: "js" };
    });
  },
};

const bundle = await cachedBundle({
  root,
  entry: "main.ts",
  cacheDir: path.join(root, ".build", "synth"),
  // The build options (this file), its cache rules and node_modules (the lockfile) decide the bundle besides the sources.
  keyParts: [readFileSync(new URL(import.meta.url)), readFileSync(new URL("./lib/bundle-cache.mjs", import.meta.url)), readLockfile()],
  buildOptions: {
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    // Whitespace and syntax only: half the bytes to parse; names kept (cdktf's messages use them).
    minify: true,
    keepNames: true,
    legalComments: "none",
    logLevel: "warning",
    plugins: [lazyArchiver],
  },
});

function readLockfile() {
  try {
    return readFileSync(path.join(root, "package-lock.json"));
  } catch {
    return "no lockfile";
  }
}

process.env.AWS_EC2_METADATA_DISABLED ??= "true";
const t0 = performance.now();
try {
  createRequire(import.meta.url)(bundle.file);
} finally {
  if (!bundle.cached) rmSync(bundle.file, { force: true });
}
// Say what was written (stderr: a tool that runs the app reads only the files).
const outdir = path.resolve(process.env.CDKTF_OUTDIR || "cdktf.out");
const manifest = JSON.parse(readFileSync(path.join(outdir, "manifest.json"), "utf8"));
for (const [name, stack] of Object.entries(manifest.stacks ?? {})) {
  process.stderr.write(`synthesized ${name} -> ${path.relative(process.cwd(), path.join(outdir, stack.workingDirectory ?? path.join("stacks", name))) || "."}\n`);
}
process.stderr.write(`in ${((performance.now() - t0) / 1000).toFixed(1)} s${bundle.built ? " (bundle rebuilt)" : ""}\n`);
