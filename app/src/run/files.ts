/**
 * The preview files (VIBE_OUT_DIR / --out): the first recipient's message as it is sent
 * (.eml), its HTML part and/or its text part. Written after delivery (or instead of it);
 * a write failure is reported, never a failed send.
 */
import path from "node:path";
import { writePreviewFiles } from "../message";
import type { ComposedDigest } from "./compose";
import type { RunScope } from "./scope";

export async function writePreview(run: RunScope, digest: ComposedDigest): Promise<void> {
  const dir = run.opts.outDir;
  const first = run.facts.config?.recipients[0];
  if (!dir || first === undefined) return;
  try {
    const files = await writePreviewFiles(dir, digest.date, digest.messageFor(first), run.opts.files ?? "message");
    run.log.info({ files }, "rendered message written");
    run.facts.files = files;
  } catch (err) {
    const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "WRITE_FAILED";
    run.facts.filesError = { code, dir: path.resolve(dir) };
    run.log.warn({ filesError: run.facts.filesError }, "could not write the rendered files (delivery is not affected)");
  }
}
