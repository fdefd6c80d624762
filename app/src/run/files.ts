/**
 * The preview files (VIBE_OUT_DIR / --out): the first recipient's message as it is sent
 * (.eml), its HTML part and/or its text part. Written after delivery (or instead of it);
 * a write failure is reported, never a failed send.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { buildMime } from "../mime";
import type { ComposedDigest } from "./compose";
import type { RunScope } from "./scope";

export async function writePreview(run: RunScope, digest: ComposedDigest): Promise<void> {
  const dir = run.opts.outDir;
  const first = run.facts.config?.recipients[0];
  if (!dir || first === undefined) return;
  const which = run.opts.files ?? "message";
  try {
    const files = await writeFiles(dir, digest.date, digest, first, which);
    run.log.info({ files }, "rendered message written");
    run.facts.files = files;
  } catch (err) {
    const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "WRITE_FAILED";
    run.facts.filesError = { code, dir: path.resolve(dir) };
    run.log.warn({ filesError: run.facts.filesError }, "could not write the rendered files (delivery is not affected)");
  }
}

/** Writes `digest-<date>.html`, `.eml` and/or `.txt` of `first`'s message; returns absolute paths. */
async function writeFiles(dir: string, date: string, digest: ComposedDigest, first: string, which: "message" | "parts" | "all") {
  const abs = path.resolve(dir);
  await fs.mkdir(abs, { recursive: true });
  const message = digest.messageFor(first);
  const files: { eml?: string; html?: string; text?: string } = {};
  files.html = path.join(abs, `digest-${date}.html`);
  await fs.writeFile(files.html, message.html);
  if (which !== "parts") {
    files.eml = path.join(abs, `digest-${date}.eml`);
    await fs.writeFile(files.eml, await buildMime(message));
  }
  if (which !== "message") {
    files.text = path.join(abs, `digest-${date}.txt`);
    await fs.writeFile(files.text, message.text);
  }
  return files;
}
