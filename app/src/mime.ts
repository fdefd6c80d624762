/**
 * Builds the raw MIME message (multipart/alternative: text/plain then text/html) with
 * nodemailer's MailComposer, which handles header encoding (the subject's emoji and en
 * dash), line lengths and transfer encodings.
 */
import MailComposer from "nodemailer/lib/mail-composer";
import { isOneClickUnsubscribeTarget } from "./validation";

export interface MimeInput {
  readonly from: string;
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
    from: m.from,
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
 * goes into this message: for a signed one, see unsubscribe.ts.
 */
export function listUnsubscribeHeaders(target: string | undefined): Record<string, string> {
  if (!target) return {};
  const headers: Record<string, string> = { "List-Unsubscribe": `<${target}>` };
  if (isOneClickUnsubscribeTarget(target)) headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
  return headers;
}
