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
import { recipientMessage, type RecipientMessage } from "../message";
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
    // Only the unsubscribe link (header and footer, the same URL: signed for this recipient
    // when there is a key) differs per recipient: message.ts, bodies made on first read.
    messageFor: (to) => recipientMessage(rendered, config, to, { date: now, tags }),
  };
}
