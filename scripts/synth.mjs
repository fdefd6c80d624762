// Synthesizes the CDKTF app without ts-node: esbuild strips the types of main.ts (and what
// it imports from modules/ and app/src/contract.ts) in ~50 ms, then plain node runs it.
// Type checking is `npm run typecheck`'s job, not every synth's. cdktf.json runs this file.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const outfile = path.join(root, ".build", "main.cjs");
await build({
  entryPoints: [path.join(root, "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node24",
  format: "cjs",
  packages: "external",
  logLevel: "warning",
});
process.env.AWS_EC2_METADATA_DISABLED ??= "true";
const t0 = performance.now();
await import(pathToFileURL(outfile).href);
// Say what was written (stderr: a tool that runs the app reads only the files).
const outdir = path.resolve(process.env.CDKTF_OUTDIR || "cdktf.out");
const manifest = JSON.parse(readFileSync(path.join(outdir, "manifest.json"), "utf8"));
for (const [name, stack] of Object.entries(manifest.stacks ?? {})) {
  process.stderr.write(`synthesized ${name} -> ${path.relative(process.cwd(), path.join(outdir, stack.workingDirectory ?? path.join("stacks", name))) || "."}\n`);
}
process.stderr.write(`in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
