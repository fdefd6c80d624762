/**
 * One recipient's message, and the preview files: the exact parts, headers and MIME that
 * recipient gets. run.ts builds every message with {@link recipientMessage} and writes the
 * first one with {@link writePreviewFiles}, so what an operator previews (.html, .txt,
 * .eml) is byte for byte what was sent (the signed unsubscribe link included).
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { DigestMessage } from "./delivery/provider";
import { buildMime, listUnsubscribeHeaders } from "./mime";
import type { RenderedDigest } from "./render";
import type { Secret } from "./secret";
import { signedUnsubscribeUrl } from "./unsubscribe";
import { isOneClickUnsubscribeTarget } from "./validation";

/** What a message needs of the config (DigestConfig has all of it). */
export interface SenderSettings {
  readonly fromAddress: string;
  readonly fromName?: string;
  /** `email/unsubscribe_url`. */
  readonly unsubscribe?: string;
  /** `email/unsubscribe_signing_key`. */
  readonly unsubscribeSigningKey?: Secret;
}

/**
 * A recipient's message: delivery/provider.ts's DigestMessage plus `fromName`, which SES
 * gets through buildMime and SendGrid should send as `from.name`.
 */
export type RecipientMessage = DigestMessage & { readonly fromName?: string };

/**
 * The unsubscribe URL of `to` (List-Unsubscribe and the footer link alike): for an https
 * target with a signing key, signed for that recipient (unsubscribe.ts); otherwise the
 * configured target as it is (undefined: none).
 */
export function unsubscribeUrlFor(settings: SenderSettings, to: string): string | undefined {
  const target = settings.unsubscribe;
  const key = settings.unsubscribeSigningKey;
  if (target && key && isOneClickUnsubscribeTarget(target)) return signedUnsubscribeUrl(target, key, to);
  return target;
}

/** `to`'s message: the digest with `to`'s unsubscribe link in the footer and the header. */
export function recipientMessage(rendered: RenderedDigest, settings: SenderSettings, to: string, o: { readonly date: Date; readonly tags: Readonly<Record<string, string>> }): RecipientMessage {
  const url = unsubscribeUrlFor(settings, to);
  const body = url ? rendered.withUnsubscribe(url) : rendered;
  return {
    from: settings.fromAddress,
    ...(settings.fromName ? { fromName: settings.fromName } : {}),
    to,
    subject: rendered.subject,
    html: body.html,
    text: body.text,
    date: o.date,
    headers: listUnsubscribeHeaders(url),
    tags: o.tags,
  };
}

/** Which preview files to write: the message (.eml + .html), the parts (.html + .txt), or all three. */
export type PreviewFiles = "message" | "parts" | "all";

/**
 * Writes `digest-<date>.html`, `.txt` and/or `.eml` of `message` (a recipient's real
 * message: its HTML and text parts as sent, and its whole MIME) into `dir`; returns the
 * absolute paths written.
 */
export async function writePreviewFiles(dir: string, date: string, message: RecipientMessage, which: PreviewFiles = "message"): Promise<{ html: string; text?: string; eml?: string }> {
  const abs = path.resolve(dir);
  await fs.mkdir(abs, { recursive: true });
  const files: { html: string; text?: string; eml?: string } = { html: path.join(abs, `digest-${date}.html`) };
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
