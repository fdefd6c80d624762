/**
 * Renders the sample digest (the feeds in scripts/sample-feeds, one source failing, a fixed
 * clock) exactly as the first recipient gets it, and photographs it with headless Chromium
 * (Debian's `chromium`) wide, narrow and dark, into docs/screenshots/. The tests never need
 * a browser: they check the HTML's structure (test/app/render.test.ts); this is for people.
 *
 *   npm run screenshots [-- --out docs/screenshots]
 *
 * Each Chromium run gets a new empty profile and no network beyond the file it opens; it is
 * stopped by its PID after 60 s.
 */
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo } from "../app/src/cli-kit";
import { FeedError } from "../app/src/errors";
import { parseFeed, type FeedResult } from "../app/src/feeds";
import { recipientMessage, type RecipientMessage } from "../app/src/message";
import { renderDigest } from "../app/src/render";
import { DEFAULT_FROM_NAME } from "../app/src/validation";
import { SAMPLE_FEEDS_DIR } from "./lib/feed-server";

/** The sample digest's feeds: the three sample files and one that could not be read. */
const SAMPLE = [
  { file: "vibe-blog.rss", name: "Vibe Coding Weekly", contentType: "application/rss+xml" },
  { file: "agents-journal.atom", name: "Agents Journal", contentType: "application/atom+xml" },
  { file: "release-notes.json", name: "Editor Release Notes", contentType: "application/feed+json" },
] as const;
export const SAMPLE_NOW = new Date("2026-11-28T12:00:00Z");

/** The sample digest as its first recipient gets it. */
export async function sampleMessage(): Promise<RecipientMessage> {
  const feeds: FeedResult[] = [];
  for (const s of SAMPLE) {
    const url = `http://127.0.0.1:5056/${s.file}`;
    const parsed = parseFeed(await fs.readFile(path.join(SAMPLE_FEEDS_DIR, s.file)), s.contentType, url, s.name);
    feeds.push({ ok: true, source: { url, name: s.name }, format: parsed.format, siteUrl: parsed.siteUrl, items: parsed.items.slice(0, 3), durationMs: 1 });
  }
  feeds.push({ ok: false, source: { url: "https://radar.example.com/feed.xml", name: "Release Radar" }, error: new FeedError("FEED_TIMEOUT", "Release Radar", "no answer within 10000 ms", false), durationMs: 10_000 });
  const rendered = renderDigest({ now: SAMPLE_NOW, feeds, unsubscribe: "https://vibedigest.example.com/unsubscribe" });
  return recipientMessage(rendered, { fromAddress: "digest@vibedigest.example.com", fromName: DEFAULT_FROM_NAME, unsubscribe: "https://vibedigest.example.com/unsubscribe" }, "reader@example.com", { date: SAMPLE_NOW, tags: {} });
}

/** The views photographed: width (CSS px) and colour scheme. */
export const VIEWS = [
  { file: "digest-wide.png", width: 1024, dark: false },
  { file: "digest-narrow.png", width: 375, dark: false },
  { file: "digest-dark.png", width: 1024, dark: true },
  { file: "digest-dark-narrow.png", width: 375, dark: true },
] as const;

// The screen is made tall enough for the longest picture: headless Chromium clamps the
// window to its screen (about 1000 px high by default).
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio", "--screen-info={0,0 1600x6000}"];

/** Runs Chromium once with a fresh profile; resolves with its stdout. Stopped by PID after 60 s. */
async function chromium(binary: string, args: string[]): Promise<string> {
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), "vd-chromium-"));
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(binary, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
      child.stderr.resume();
      const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 60_000);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(new CliError("CHROMIUM_MISSING", `cannot start ${binary} (${(err as NodeJS.ErrnoException).code ?? err.name})`, EXIT.config, "install it (Debian: apt-get install -y chromium) or set VIBE_CHROMIUM"));
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new CliError("CHROMIUM_FAILED", `${binary} exited with ${code}`, EXIT.failed));
      });
    });
  } finally {
    await fs.rm(profile, { recursive: true, force: true });
  }
}

/** Photographs `html` at each view into `outDir`; returns the files written. */
export async function screenshots(html: string, outDir: string, binary: string): Promise<string[]> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "vd-shots-"));
  try {
    const page = path.join(work, "digest.html");
    await fs.writeFile(page, html);
    await fs.mkdir(outDir, { recursive: true });
    const written: string[] = [];
    for (const v of VIEWS) {
      // A copy that reports the message's height at this width, so each picture is as tall as
      // the message. (--dump-dom runs at least 500 px wide, so the probe sets the body's width;
      // the narrow media query applies below 620 px either way.)
      const probe = path.join(work, `probe-${v.width}.html`);
      await fs.writeFile(probe, html.replace("</body>", `<script>document.body.style.setProperty("width","${v.width}px","important");document.title="H"+Math.ceil(document.body.getBoundingClientRect().height)</script></body>`));
      const scheme = v.dark ? ["--blink-settings=preferredColorScheme=0"] : ["--blink-settings=preferredColorScheme=1"];
      const dom = await chromium(binary, [...scheme, `--window-size=${Math.max(v.width, 500)},800`, "--virtual-time-budget=2000", "--dump-dom", `file://${probe}`]);
      const height = Math.min(Math.max(Number(/<title>H(\d+)<\/title>/.exec(dom)?.[1] ?? 1600), 400), 6000);
      const file = path.resolve(outDir, v.file);
      await chromium(binary, [...scheme, `--window-size=${v.width},${height}`, `--screenshot=${file}`, `file://${page}`]);
      written.push(file);
    }
    return written;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const cli = new Cli(
    "screenshots",
    {
      invocation: "npm run screenshots --",
      description: "Renders the sample digest (scripts/sample-feeds, one failing source) as its first recipient gets it and photographs it with headless Chromium: wide, narrow and dark, into docs/screenshots/.",
      env: [{ name: "VIBE_CHROMIUM", description: "the Chromium binary (default: chromium on PATH; Debian: apt-get install -y chromium)" }],
      exitCodes: [STANDARD_EXIT_DOCS.ok, { code: EXIT.failed, meaning: "Chromium failed" }, { code: EXIT.config, meaning: "Chromium is not installed" }, STANDARD_EXIT_DOCS.internal, STANDARD_EXIT_DOCS.usage],
    },
    processIo(),
  );
  cli.program.option("--out <dir>", "where the pictures go", "docs/screenshots");
  cli.program.action(async () => undefined);
  cli.action<{ json?: boolean; out: string }>(cli.program, async ({ out, opts }) => {
    const message = await sampleMessage();
    const files = await screenshots(message.html, opts.out, process.env.VIBE_CHROMIUM || "chromium");
    await fs.writeFile(path.join(opts.out, "sample-digest.html"), message.html);
    out.result({ ok: true, files: files.map((f) => path.relative(process.cwd(), f)), exitCode: EXIT.ok }, files.map((f) => `wrote ${path.relative(process.cwd(), f)}`));
    return EXIT.ok;
  });
  void cli.run(process.argv.slice(2)).then((code) => process.exit(code));
}
