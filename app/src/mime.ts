/**
 * Builds the raw MIME message (multipart/alternative: text/plain then text/html) with
 * nodemailer's MailComposer, which handles header encoding (the subject's emoji and en
 * dash, a non-ASCII display name), line lengths and transfer encodings.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { isHeaderSafeUnsubscribeTarget, isOneClickUnsubscribeTarget } from "./validation";

export interface MimeInput {
  /** The sender's address (a verified SES identity). */
  readonly from: string;
  /** The From display name, e.g. "Vibe Coding Digest". @default - the address alone */
  readonly fromName?: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly date: Date;
  /** Extra headers, e.g. List-Unsubscribe. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The message as bytes, ready for SES SendRawEmail or an .eml file. */
export async function buildMime(m: MimeInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: m.fromName ? { name: m.fromName, address: m.from } : m.from,
    to: m.to,
    subject: m.subject,
    text: m.text,
    html: m.html,
    date: m.date,
    headers: { ...m.headers },
    textEncoding: "quoted-printable",
  });
  return await composer.compile().build();
}

/**
 * RFC 2369 List-Unsubscribe plus RFC 8058 one-click (the one-click header only applies to
 * an https target; a mailto target gets List-Unsubscribe alone). `target` is the URL as it
 * goes into this message: for a signed one, see unsubscribe.ts. A target that could end
 * the `<...>` or add a second value (validation.ts refuses it in the config already) is a
 * programming error here, not something to send.
 */
export function listUnsubscribeHeaders(target: string | undefined): Record<string, string> {
  if (!target) return {};
  if (!isHeaderSafeUnsubscribeTarget(target)) throw new Error("List-Unsubscribe target contains characters that would change the header");
  const headers: Record<string, string> = { "List-Unsubscribe": `<${target}>` };
  if (isOneClickUnsubscribeTarget(target)) headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
  return headers;
}
