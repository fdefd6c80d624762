// Bundles the sender (app/src/cli.ts and everything it imports, node_modules included) into
// one CommonJS file for the container image, so the image carries no node_modules:
//
//   node scripts/bundle.mjs            -> .build/app/digest.cjs (+ digest.cjs.LEGAL.txt)
//
// platform node, target node24: the Node the project pins (devDependency node@24) for its
// tests and local run, and the image's base. Minified but with names kept: errors are
// matched by `name`, and stack traces stay readable enough. Prints the bundle's path and size; `--json` prints them as JSON.
// The output is deterministic (same sources, same bytes), so an unchanged bundle keeps the
// image's COPY layer cached.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
export const BUNDLE_DIR = path.join(root, ".build", "app");
export const BUNDLE_FILE = path.join(BUNDLE_DIR, "digest.cjs");

/** Builds the bundle; resolves with its path and size in bytes. */
export async function bundle() {
  fs.mkdirSync(BUNDLE_DIR, { recursive: true });
  const result = await build({
    entryPoints: [path.join(root, "app", "src", "cli.ts")],
    outfile: BUNDLE_FILE,
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    minify: true,
    keepNames: true,
    // Licences of the bundled packages go beside the bundle (and into the image), not inline.
    legalComments: "linked",
    // ESM builds first, as the AWS SDK advises for bundlers: they tree-shake (1.6 MB against
    // 2.0 MB with CommonJS first). The container e2e test runs this very bundle.
    mainFields: ["module", "main"],
    logLevel: "warning",
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => f.includes("node_modules/"));
  const packages = new Set(inputs.map((f) => f.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, "$1")));
  return { file: BUNDLE_FILE, bytes: fs.statSync(BUNDLE_FILE).size, packages: packages.size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const out = await bundle();
  const ms = Math.round(performance.now() - t0);
  if (process.argv.includes("--json")) process.stdout.write(JSON.stringify({ ...out, ms }) + "\n");
  else process.stdout.write(`${path.relative(process.cwd(), out.file)}: ${(out.bytes / 1024).toFixed(0)} KiB from ${out.packages} packages in ${ms} ms\n`);
}
