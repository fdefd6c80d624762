/**
 * The run's summary and its accounting, with stand-in dependencies (no AWS): every
 * recipient is counted whatever ended the run, and a long list is summarised, not dumped.
 */
import type { DigestConfig } from "../../app/src/config";
import type { DeliveryProvider } from "../../app/src/delivery/provider";
import type { FeedResult } from "../../app/src/feeds";
import { EmfMetrics } from "../../app/src/metrics";
import { runDigest, type RunDeps, type RunSummary } from "../../app/src/run";
import { captureLogger } from "../support/app-fixtures";

const NOW = new Date("2026-11-28T12:00:00Z");
const ids = (n: number) => Array.from({ length: n }, (_, i) => `reader-${i}@example.net`);

function config(recipients: string[]): DigestConfig {
  return { root: "/t", region: "us-east-1", fromAddress: "digest@example.com", fromName: "Vibe Coding Digest", recipients, useSes: true, sesPercent: 100, feeds: [{ name: "Feed", url: "https://feed.example.com/rss" }] };
}

const oneItem: FeedResult[] = [{ ok: true, source: { name: "Feed", url: "https://feed.example.com/rss" }, format: "rss", items: [{ title: "An item", link: "https://feed.example.com/1", summary: "s" }], durationMs: 1 }];

function deps(recipients: string[], provider: DeliveryProvider, emf?: string[]): RunDeps {
  return {
    config: { load: async () => config(recipients) },
    feeds: { fetchAll: async () => oneItem },
    provider: () => provider,
    logger: captureLogger().logger,
    metrics: emf ? new EmfMetrics((l) => emf.push(l)) : undefined,
    clock: () => NOW,
  };
}

const accounted = (s: RunSummary) => s.sent + s.failed + s.unknown + s.skipped + s.inFlight + s.notTried;

describe("the run summary", () => {
  test("when there are more than 100 recipients, it counts them all and lists only those not sent (at most 100), with how many were left out", async () => {
    const recipients = ids(250);
    const provider: DeliveryProvider = {
      name: "ses",
      limits: async () => ({ maxPerSecond: 1000, remaining24h: Infinity }),
      send: async (m) => {
        if (/-(7|77|177)@/.test(m.to)) throw new Error("an answer the provider did not document");
        return { messageId: `id-${m.to}` };
      },
    };
    const s = await runDigest(deps(recipients, provider), { dispatch: { ceilingPerSecond: 1000 } });
    expect(s).toMatchObject({ total: 250, sent: 247, unknown: 3, exitCode: 1 });
    expect(accounted(s)).toBe(250);
    expect(s.recipients.map((r) => r.recipient)).toEqual(["reader-7@example.net", "reader-77@example.net", "reader-177@example.net"]);
    expect(s.recipientsOmitted).toBe(247);
    expect(s.messageIds).toHaveLength(100);
    expect(s.messageIdsOmitted).toBe(147);
    // The summary line stays small enough for one CloudWatch Logs event (256 KB).
    expect(JSON.stringify(s).length).toBeLessThan(64 * 1024);
  });

  test("when at most 100 recipients, it lists every one of them", async () => {
    const provider: DeliveryProvider = { name: "ses", limits: async () => ({ maxPerSecond: 1000, remaining24h: Infinity }), send: async (m) => ({ messageId: `id-${m.to}` }) };
    const s = await runDigest(deps(ids(100), provider), { dispatch: { ceilingPerSecond: 1000 } });
    expect(s).toMatchObject({ total: 100, sent: 100, exitCode: 0 });
    expect(s.recipients).toHaveLength(100);
    expect(s).not.toHaveProperty("recipientsOmitted");
  });

  test("when the stop comes and a send never answers, the shutdown grace ends the run with everyone accounted for: sent, in flight and not tried", async () => {
    const stop = new AbortController();
    let calls = 0;
    const provider: DeliveryProvider = {
      name: "ses",
      limits: async () => ({ maxPerSecond: 1000, remaining24h: Infinity }),
      send: (m) => {
        calls++;
        if (calls <= 2) return Promise.resolve({ messageId: `id-${m.to}` });
        // The third request hangs; the stop comes while it is in flight.
        stop.abort();
        return new Promise(() => undefined);
      },
    };
    const emf: string[] = [];
    const d = deps(ids(10), provider, emf);
    const s = await runDigest(d, { signal: stop.signal, shutdownGraceMs: 50, dispatch: { ceilingPerSecond: 1000, maxConcurrency: 1 } });
    d.metrics!.flush();
    expect(s).toMatchObject({ ok: false, reason: "interrupted", graceExceeded: true, exitCode: 143, total: 10, sent: 2, inFlight: 1, notTried: 7, failed: 0, unknown: 0 });
    expect(s.recipients[2]).toMatchObject({ recipient: "reader-2@example.net", status: "in_flight" });
    expect(s.recipients.slice(3).every((r) => r.status === "not_tried")).toBe(true);
    expect(JSON.parse(emf[0])).toMatchObject({ EmailsSent: 2, DigestSucceeded: 0 });
  });

  test("when the stop comes before the feeds are in, nothing is tried and every recipient is counted as not tried", async () => {
    const stop = new AbortController();
    const d: RunDeps = { ...deps(ids(3), { name: "ses", limits: async () => ({ maxPerSecond: 1, remaining24h: Infinity }), send: async () => ({ messageId: "x" }) }), feeds: { fetchAll: () => (stop.abort(), new Promise(() => undefined)) } };
    const s = await runDigest(d, { signal: stop.signal });
    expect(s).toMatchObject({ reason: "interrupted", exitCode: 143, total: 3, notTried: 3, sent: 0 });
  });
});
