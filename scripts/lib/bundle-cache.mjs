// An esbuild bundle cached by the content of what it was built from, so a run whose sources
// did not change skips esbuild altogether (no Go process, no build): scripts/synth.mjs.
//
// The cache key is a SHA-256 of `keyParts` (what decides the build besides the sources: the
// build script itself, package-lock.json for node_modules) and of every project file the
// last build read (esbuild's metafile, node_modules excepted), in order. A changed, added or
// removed import changes the importing file, so its key changes too. A bundle is written
// under its key (tmp file + rename: concurrent runs never see half a file), and only when no
// input changed while it was being built; the newest few are kept.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const KEEP = 4;

/** The key of `inputs` (paths relative to `root`); undefined when one of them is gone. */
function keyOf(root, inputs, keyParts) {
  const h = createHash("sha256");
  for (const p of keyParts) h.update(`${p}\0`);
  for (const f of inputs) {
    let bytes;
    try {
      bytes = fs.readFileSync(path.join(root, f));
    } catch {
      return undefined;
    }
    h.update(`${f}\0`).update(bytes).update("\0");
  }
  return h.digest("hex").slice(0, 32);
}

function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * The bundle of `entry` (relative to `root`) under `cacheDir`: the cached one when its key
 * still matches, else a fresh esbuild build (`buildOptions`, CommonJS output).
 * Resolves with its path, whether it was built now, and whether it is kept (a bundle that is
 * not, `cached: false`, is the caller's to delete after use).
 */
export async function cachedBundle({ root, entry, cacheDir, buildOptions, keyParts = [] }) {
  const manifest = path.join(cacheDir, "inputs.json");
  try {
    const { inputs } = JSON.parse(fs.readFileSync(manifest, "utf8"));
    const key = keyOf(root, inputs, keyParts);
    const file = key && path.join(cacheDir, `${key}.cjs`);
    if (file && fs.existsSync(file)) return { file, built: false, cached: true };
  } catch {
    // No manifest yet, or an unreadable one: build.
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const started = Date.now();
  const { build } = await import("esbuild");
  const result = await build({ ...buildOptions, entryPoints: [entry], absWorkingDir: root, outfile: path.join(cacheDir, "bundle.cjs"), write: false, metafile: true });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.split(/[\\/]/).includes("node_modules"))
    .sort();
  const key = keyOf(root, inputs, keyParts);
  // An input edited during the build may not be what esbuild read: use the bundle, cache nothing.
  const unchanged = key !== undefined && inputs.every((f) => fs.statSync(path.join(root, f)).mtimeMs < started);
  const file = path.join(cacheDir, unchanged ? `${key}.cjs` : `uncached-${process.pid}.cjs`);
  writeAtomic(file, result.outputFiles[0].contents);
  if (unchanged) {
    writeAtomic(manifest, JSON.stringify({ inputs }));
    const bundles = fs
      .readdirSync(cacheDir)
      .filter((f) => /^[0-9a-f]{32}\.cjs$/.test(f))
      .map((f) => ({ f, t: fs.statSync(path.join(cacheDir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const { f } of bundles.slice(KEEP)) fs.rmSync(path.join(cacheDir, f), { force: true });
  }
  return { file, built: true, cached: unchanged };
}
