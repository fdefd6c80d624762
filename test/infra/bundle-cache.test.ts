import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";

const run = promisify(execFile);
const CACHE_MODULE = path.join(PROJECT_ROOT, "scripts", "lib", "bundle-cache.mjs");

/** scripts/lib/bundle-cache.mjs (ESM, what scripts/synth.mjs uses) called in a plain node, as synth calls it. */
async function cachedBundle(root: string, keyParts: string[] = []): Promise<{ file: string; built: boolean; cached: boolean; output: string }> {
  const code = `
    const { cachedBundle } = await import(${JSON.stringify(CACHE_MODULE)});
    const { createRequire } = await import("node:module");
    const r = await cachedBundle({ root: ${JSON.stringify(root)}, entry: "entry.ts", cacheDir: ${JSON.stringify(path.join(root, "cache"))}, keyParts: ${JSON.stringify(keyParts)}, buildOptions: { bundle: true, platform: "node", format: "cjs", logLevel: "silent" } });
    const output = createRequire(import.meta.url)(r.file).value;
    process.stdout.write(JSON.stringify({ ...r, output }));
  `;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", code], { cwd: PROJECT_ROOT, timeout: 60_000 });
  return JSON.parse(stdout) as { file: string; built: boolean; cached: boolean; output: string };
}

describe("the synth's bundle cache (scripts/lib/bundle-cache.mjs)", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "bundle-cache-"));
    fs.writeFileSync(path.join(root, "entry.ts"), 'import { word } from "./dep";\nexport const value: string = word;\n');
    fs.writeFileSync(path.join(root, "dep.ts"), 'export const word: string = "first";\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test("when nothing changed since the last build, it runs the cached bundle without building", async () => {
    const first = await cachedBundle(root);
    expect(first).toMatchObject({ built: true, cached: true, output: "first" });
    const second = await cachedBundle(root);
    expect(second).toEqual({ ...first, built: false });
  });

  test("when a file the entry imports changes, it rebuilds and the change is in the output", async () => {
    const first = await cachedBundle(root);
    fs.writeFileSync(path.join(root, "dep.ts"), 'export const word: string = "second";\n');
    const second = await cachedBundle(root);
    expect(second).toMatchObject({ built: true, cached: true, output: "second" });
    expect(second.file).not.toBe(first.file);
  });

  test("when the entry starts importing a new file, a change to that file rebuilds too", async () => {
    fs.writeFileSync(path.join(root, "extra.ts"), 'export const extra: string = "x1";\n');
    await cachedBundle(root);
    fs.writeFileSync(path.join(root, "entry.ts"), 'import { word } from "./dep";\nimport { extra } from "./extra";\nexport const value: string = word + extra;\n');
    expect(await cachedBundle(root)).toMatchObject({ built: true, output: "firstx1" });
    fs.writeFileSync(path.join(root, "extra.ts"), 'export const extra: string = "x2";\n');
    expect(await cachedBundle(root)).toMatchObject({ built: true, output: "firstx2" });
  });

  test("when a key part (the build script, the lockfile) changes, it rebuilds", async () => {
    await cachedBundle(root, ["lock v1"]);
    expect(await cachedBundle(root, ["lock v1"])).toMatchObject({ built: false });
    expect(await cachedBundle(root, ["lock v2"])).toMatchObject({ built: true, output: "first" });
  });
});
