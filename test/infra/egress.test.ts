/**
 * Egress of the real stages, on their synthesized JSON: a feed host is reachable only
 * through the NAT gateway and the DNS firewall's allow-list, the allow-list is built from the
 * stage's feed list, and the feeds are the original app's (no placeholder hosts). The same
 * check runs on the offline plans in real-aws-offline.test.ts.
 */
import { Testing } from "cdktf";
import { buildApp } from "../../modules/app";
import { DigestStack } from "../../modules/digest-stack";
import { KEPT_DESPITE_NOTE, ORIGINAL_FEED_REDIRECTS, devStage, originalFeeds, prodStage, type StageConfig } from "../../modules/stages";
import { egressProblems, expectedEgress } from "../support/egress";
import { resources, synthStack, type TfJson } from "../support/tf-json";

const json = (stage: "dev" | "prod"): TfJson => synthStack(buildApp({ outdir: "unused", stages: [stage] }).stacks[0]!);

describe.each([
  ["dev", devStage()],
  ["prod", prodStage()],
] as const)("%s stage egress", (name, stage) => {
  const j = json(name);

  test("when synthesized, a feed host is reachable only through the NAT gateway and the DNS firewall's allow-list", () => {
    expect(egressProblems(j, expectedEgress(stage))).toEqual([]);
  });

  test("when synthesized, digest/feed_hosts is the allow-list and digest/feeds the stage's feeds, from one list", () => {
    const param = (rel: string) => resources(j, "aws_ssm_parameter").find((p) => p.props.name === `/vibecoding/${rel}`)!.props;
    expect(param("digest/feed_hosts")).toMatchObject({ type: "StringList", value: expectedEgress(stage).allowLists.feeds!.join(",") });
    expect(JSON.parse(param("digest/feeds").value as string)).toEqual(stage.feeds);
  });

  test("when synthesized, its feeds are the original app's list without the noted entries, and none is on example.com", () => {
    expect(stage.feeds).toEqual(originalFeeds().kept);
    expect(stage.feeds.length).toBeGreaterThanOrEqual(20);
    expect(stage.feeds.filter((f) => /(^|\.)example\.(com|org|net)$/.test(new URL(f.url).hostname))).toEqual([]);
  });
});

describe("the original feed list", () => {
  test("when the stages take it, every entry with a note is left out unless kept with a reason, and every redirect target has one", () => {
    const { kept, leftOut } = originalFeeds();
    expect(leftOut.every((f) => typeof f.note === "string" && !(f.name in KEPT_DESPITE_NOTE))).toBe(true);
    expect(leftOut.map((f) => f.name)).toEqual([
      "GitHub Search (Vibe Coding)",
      "GitHub Trending (Python, daily)",
      "YouTube: Yannic Kilcher",
      "YouTube: Two Minute Papers",
      "YouTube: OpenAI",
      "YouTube: Latent Space Podcast",
    ]);
    expect(kept.map((f) => f.name)).toContain("Google AI Blog");
    for (const r of ORIGINAL_FEED_REDIRECTS) expect(r.reason.length).toBeGreaterThan(20);
  });
});

describe("a stage's egress rules", () => {
  test("when prod has SendGrid and dev has not, only prod's allow-list names the SendGrid API", () => {
    expect(expectedEgress(prodStage()).allowLists.sendgrid).toEqual(["api.sendgrid.com"]);
    expect(expectedEgress(devStage()).allowLists).not.toHaveProperty("sendgrid");
  });

  test.each([
    ["SendGrid is off while it still carries recipients", { sesPercent: 10, useSendGrid: false }, "VALUE_INVALID"],
    ["a feed is plain http", { feeds: [...prodStage().feeds, { url: "http://feeds.vibedigest.example.org/x.rss", name: "X" }] }, "FEEDS_INVALID"],
    ["a feed is on an IP literal", { feeds: [{ url: "https://203.0.113.10/x.rss", name: "X" }] }, "FEEDS_INVALID"],
    ["a redirect host has no reason", { extraFeedHosts: [{ host: "cdn.example.net", reason: "" }] }, "FEEDS_INVALID"],
    ["no pipeline", { pipeline: undefined }, "STAGE_INVALID"],
    ["an operator role in another account", { operatorRoleArns: ["arn:aws:iam::999999999999:role/ops"] }, "VALUE_INVALID"],
    ["a bad account", { account: "2222" }, "VALUE_INVALID"],
  ] as [string, Partial<StageConfig>, string][])("when %s, synth fails with %s", (_what, patch, code) => {
    expect(() => new DigestStack(Testing.app(), { stage: { ...prodStage(), ...patch } })).toThrow(expect.objectContaining({ code }) as unknown as Error);
  });

  test("when a check is given a stack whose task could reach the internet another way, it reports each way", () => {
    const j = json("prod");
    const task = resources(j, "aws_security_group").find((s) => String(s.props.name).endsWith("-task"))!;
    j.resource!.aws_vpc_security_group_egress_rule!.http_out = { security_group_id: `\${${task.address}.id}`, cidr_ipv4: "0.0.0.0/0", ip_protocol: "tcp", from_port: 80, to_port: 80 };
    j.resource!.aws_route!.extra = { route_table_id: "rt", destination_cidr_block: "198.51.100.0/24", gateway_id: "vgw-1" };
    const firewall = j.resource!.aws_route53_resolver_firewall_config!;
    for (const c of Object.values(firewall)) c.firewall_fail_open = "ENABLED";
    const problems = egressProblems(j, expectedEgress(prodStage()));
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/http_out: not TCP 443 only/),
      expect.stringMatching(/^routes: 3/),
      "the DNS firewall does not fail closed",
    ]));
  });

  test("when a feed host were missing from the firewall's list, the check says which", () => {
    const expected = expectedEgress(prodStage());
    const problems = egressProblems(json("prod"), { ...expected, feedHosts: [...expected.feedHosts, "feeds.elsewhere.example.org"] });
    expect(problems).toEqual(["feed host feeds.elsewhere.example.org is not allowed by the DNS firewall"]);
  });
});
