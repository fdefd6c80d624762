/**
 * Phase 3: the digest, rendered once, and {@link ComposedDigest.messageFor}: the one
 * function that builds a recipient's message, for the sends and for the preview files (the
 * first recipient's message, byte for byte what it is sent). A message's bodies (the digest
 * with that recipient's unsubscribe link) are computed on first read, which the provider
 * does when the recipient's send slot has come: the run holds only the bodies of the
 * requests in flight, whatever the length of the list.
 */
import type { DigestConfig } from "../config";
import type { FeedResult } from "../feeds";
import { unsubscribeUrlFor, type RecipientMessage } from "../message";
import { listUnsubscribeHeaders } from "../mime";
import { digestDate, renderDigest } from "../render";
import type { RunScope } from "./scope";

export interface ComposedDigest {
  /** YYYY-MM-DD, America/New_York: the ledger's key. */
  readonly date: string;
  readonly subject: string;
  readonly itemCount: number;
  readonly sourceCount: number;
  /** `to`'s message: the shared digest with `to`'s unsubscribe link (header and footer). */
  messageFor(to: string): RecipientMessage;
}

export function composeDigest(run: RunScope, config: DigestConfig, feeds: readonly FeedResult[]): ComposedDigest {
  const now = run.now();
  const date = digestDate(now);
  const rendered = renderDigest({ now, feeds, unsubscribe: config.unsubscribe });
  run.log.info({ items: rendered.itemCount, sources: rendered.sourceCount, failedFeeds: run.facts.feeds.failed.length, subject: rendered.subject }, "digest rendered");
  run.facts.digest = { date, subject: rendered.subject, items: rendered.itemCount };
  const tags = { run_id: run.runId, digest_date: date };
  return {
    date,
    subject: rendered.subject,
    itemCount: rendered.itemCount,
    sourceCount: rendered.sourceCount,
    messageFor(to) {
      // Only the unsubscribe link (header and footer, the same URL: signed for this
      // recipient when there is a key; message.ts) differs per recipient.
      const url = unsubscribeUrlFor(config, to);
      let body: { readonly html: string; readonly text: string } | undefined;
      const parts = () => (body ??= url ? rendered.withUnsubscribe(url) : rendered);
      return {
        from: config.fromAddress,
        ...(config.fromName ? { fromName: config.fromName } : {}),
        to,
        subject: rendered.subject,
        get html() {
          return parts().html;
        },
        get text() {
          return parts().text;
        },
        date: now,
        headers: listUnsubscribeHeaders(url),
        tags,
      };
    },
  };
}
