/**
 * The generated docs: stale ones fail here (`npm run docs` regenerates them), every error
 * code the code can print has a troubleshooting entry, and the diagrams name exactly the
 * states and exits the code has.
 */
import fs from "node:fs";
import path from "node:path";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { LEDGER } from "../../app/src/contract";
import { docsCli, generateDocs, replaceSection, staleDocs, synthesizedStacks, type GeneratedDoc } from "../../scripts/docs";
import { LEDGER_TRANSITIONS, RUN_FLOW, architectureDiagram, cidrsubnet, ledgerStateDiagram, networkDiagram, rollbackReasons } from "../../scripts/lib/diagrams";
import { ERROR_GUIDE, collectErrorCodes, renderTroubleshooting, unionMembers } from "../../scripts/lib/error-guide";
import { ledgerTableName, stageData } from "../../scripts/lib/stage-env";
import { PROJECT_ROOT } from "../../scripts/lib/terraform";

let stacks: ReturnType<typeof synthesizedStacks>;
let docs: GeneratedDoc[];
beforeAll(() => {
  stacks = synthesizedStacks();
  docs = generateDocs(PROJECT_ROOT, stacks);
}, 120_000);

const mermaidBlocks = (text: string) => [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("generated docs", () => {
  test("every generated document is up to date (else: npm run docs)", () => {
    expect(staleDocs(PROJECT_ROOT, docs)).toEqual([]);
  });

  test("every error code the code can print has a troubleshooting entry, and no entry outlives its code", () => {
    const found = collectErrorCodes(PROJECT_ROOT).map((c) => c.code);
    expect(found.filter((c) => !ERROR_GUIDE[c])).toEqual([]);
    expect(Object.keys(ERROR_GUIDE).filter((c) => !found.includes(c))).toEqual([]);
    // The unions are part of what is found: the sender's and the synth's codes.
    const errorsTs = fs.readFileSync(path.join(PROJECT_ROOT, "app/src/errors.ts"), "utf8");
    expect(found).toEqual(expect.arrayContaining(unionMembers(errorsTs, "ErrorCode")));
  });

  test("when a code has no entry, rendering the guide fails naming it", () => {
    const codes = [{ code: "SOME_NEW_CODE", origins: ["command" as const], files: ["scripts/x.ts"] }];
    expect(() => renderTroubleshooting(codes)).toThrow(/SOME_NEW_CODE/);
  });

  test("the scan finds codes in every form the code prints them", () => {
    const root = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "docs-scan-"));
    try {
      const put = (p: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
        fs.writeFileSync(path.join(root, p), text);
      };
      put("app/src/errors.ts", 'export type ErrorCode =\n  | "SENDER_ONE"\n  | "SENDER_TWO";\n');
      put("modules/errors.ts", 'export type ConfigErrorCode = "SYNTH_ONE";\n');
      put("scripts/a.ts", 'throw new CliError(\n  "MULTI_LINE",\n  "x");\nthrow new CliError("ONELINE", "y");\nconst o = { code: "OBJECT_CODE", message: "m" };\n');
      put("app/src/l.ts", 'set({ [A.errorCode]: { S: "LEDGER_CODE" } });\nsettle({ errorCode: ok ? e.code : "FALLBACK_CODE" });\n');
      const found = collectErrorCodes(root);
      expect(found.map((c) => [c.code, c.origins[0]]).sort()).toEqual(
        [
          ["FALLBACK_CODE", "ledger"],
          ["LEDGER_CODE", "ledger"],
          ["MULTI_LINE", "command"],
          ["OBJECT_CODE", "command"],
          ["ONELINE", "command"],
          ["SENDER_ONE", "sender"],
          ["SENDER_TWO", "sender"],
          ["SYNTH_ONE", "synth"],
        ].sort(),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test("the troubleshooting guide has one section per code, with meaning, causes and what to run", () => {
    const guide = docs.find((d) => d.path === "docs/troubleshooting.md")!.content;
    for (const { code } of collectErrorCodes(PROJECT_ROOT)) {
      expect(guide).toMatch(new RegExp(`### ${code}\\n\\n.+\\n\\nLikely causes:\\n\\n- .+[\\s\\S]*?What to run:\\n\\n- `));
    }
    // No bare <placeholder> outside code spans (a code host would read it as an HTML tag).
    const prose = guide.replace(/`[^`]*`/g, "");
    expect(prose).not.toMatch(/<[a-z][\w-]*>/);
  });

  test.each(["docs/runbook.md", "docs/rotation.md", "docs/ses-setup.md", "docs/diagrams.md"])("%s has no bare <placeholder> outside code (a code host would read it as an HTML tag)", (file) => {
    const prose = fs
      .readFileSync(path.join(PROJECT_ROOT, file), "utf8")
      .replace(/```[\s\S]*?```/g, "")
      .replace(/`[^`]*`/g, "")
      .replace(/<!--[\s\S]*?-->/g, "");
    expect(prose.match(/<[a-z][\w-]*>/g) ?? []).toEqual([]);
  });

  test("when a generated section's markers are missing, regenerating fails naming the file", () => {
    expect(() => replaceSection("no markers here", "rollout-steps", "x", "docs/runbook.md")).toThrow(/docs\/runbook\.md: no <!-- generated:rollout-steps -->/);
  });

  test("--check fails with DOCS_STALE when a generated file was edited, and npm run docs puts it right", async () => {
    const root = fs.mkdtempSync(path.join(PROJECT_ROOT, ".tmp", "docs-cli-"));
    try {
      for (const dir of ["app/src", "scripts", "modules", "docs"]) fs.cpSync(path.join(PROJECT_ROOT, dir), path.join(root, dir), { recursive: true });
      fs.appendFileSync(path.join(root, "docs/diagrams.md"), "\nhand edit\n");
      const io = (): CliIo & { out: string[] } => {
        const out: string[] = [];
        return { out, isTTY: false, stdout: (t) => void out.push(t), stderr: () => undefined };
      };
      const a = io();
      expect(await docsCli(a, root).run(["--check"])).toBe(EXIT.failed);
      expect(JSON.parse(a.out.at(-1)!)).toMatchObject({ code: "DOCS_STALE", message: expect.stringContaining("docs/diagrams.md") });
      const b = io();
      expect(await docsCli(b, root).run([])).toBe(EXIT.ok);
      expect(JSON.parse(b.out.at(-1)!)).toMatchObject({ written: ["docs/diagrams.md"] });
      expect(await docsCli(io(), root).run(["--check"])).toBe(EXIT.ok);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("diagrams", () => {
  test("every Mermaid block is a diagram type the code host renders, with plain ids and quoted labels", () => {
    const all = docs.flatMap((d) => mermaidBlocks(d.content));
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const block of all) {
      expect(block).toMatch(/^(flowchart (LR|TB|TD)|stateDiagram-v2)\n/);
      for (const line of block.split("\n").slice(1)) {
        // A node id is letters, digits and underscores; "end" would close a subgraph.
        const idMatch = /^\s+(?:subgraph )?([A-Za-z0-9_]+)[[({]/.exec(line);
        if (idMatch) expect(idMatch[1]).not.toBe("end");
        // Quotes only as label delimiters (an inner quote is written #quot;).
        const quotes = (line.match(/"/g) ?? []).length;
        expect(quotes % 2).toBe(0);
      }
    }
  });

  test("the ledger's diagram names exactly the ledger's states", () => {
    const named = new Set(LEDGER_TRANSITIONS.flatMap((t) => [t.from, t.to]).filter((s) => s !== "absent" && s !== "expired"));
    expect([...named].sort()).toEqual([...LEDGER.states].sort());
    const text = ledgerStateDiagram();
    for (const s of LEDGER.states) expect(text).toContain(` ${s}`);
  });

  test("the rollback's diagram names exactly the reasons a rollback record can carry (the contract's)", () => {
    const contract = fs.readFileSync(path.join(PROJECT_ROOT, "app/src/contract.ts"), "utf8");
    const reasons = [.../readonly reason: ([^;]+);/.exec(contract)![1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(Object.keys(rollbackReasons()).sort()).toEqual(reasons.sort());
  });

  test("the run's diagram ends in exactly the sender's exit codes, writes exactly the ledger's outcomes, and every edge joins two nodes", () => {
    const exits = RUN_FLOW.nodes.filter((n) => n.shape === "exit").map((n) => n.exit);
    expect(exits.sort((a, b) => a! - b!)).toEqual(Object.values(EXIT).filter((c) => c !== EXIT.usage).sort((a, b) => a - b));
    expect(RUN_FLOW.nodes.flatMap((n) => n.ledger ?? []).sort()).toEqual(LEDGER.states.filter((s) => s !== "in_progress").sort());
    const ids = new Set(RUN_FLOW.nodes.map((n) => n.id));
    for (const [a, b] of RUN_FLOW.edges) expect([ids.has(a), ids.has(b)]).toEqual([true, true]);
    for (const n of RUN_FLOW.nodes.filter((x) => x.shape !== "start")) expect(RUN_FLOW.edges.some(([, b]) => b === n.id)).toBe(true);
  });

  test("the architecture diagram has a node for every top-level construct of the stack with all its resources, and the references between them", () => {
    const json = stacks.prod.json;
    const tops = new Map<string, number>();
    for (const byName of Object.values(json.resource ?? {})) {
      for (const r of Object.values(byName)) {
        const top = ((r["//"] as { metadata: { path: string } }).metadata.path.split("/")[1])!;
        tops.set(top, (tops.get(top) ?? 0) + 1);
      }
    }
    const text = architectureDiagram(json, stacks.prod.stackName);
    for (const [top, n] of tops) {
      const line = text.split("\n").find((l) => l.includes(`<b>${top}</b>`))!;
      const counted = [...line.matchAll(/×(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
      expect([top, counted]).toEqual([top, n]);
    }
    // The task definition refers to the task role; the ledger to the operations key.
    expect(text).toContain("n_task --> n_task_role");
    expect(text).toContain("n_ledger --> n_operations_key");
  });

  test.each(["dev", "prod"] as const)("the %s network diagram shows the stack's way out: NAT and internet gateway exactly when it has them, the endpoints, and its DNS firewall's rules", (name) => {
    const json = stacks[name].json;
    const text = networkDiagram(json);
    const has = (type: string) => Object.keys(json.resource?.[type] ?? {}).length > 0;
    expect(text.includes("nat --> igw")).toBe(has("aws_nat_gateway") && has("aws_internet_gateway"));
    expect(/task -->\|"tcp 443 to anywhere"\| nat/.test(text)).toBe(has("aws_nat_gateway"));
    expect(text).toMatch(/task -->\|"tcp 443"\| endpoints/);
    const rules = Object.values(json.resource?.aws_route53_resolver_firewall_rule ?? {});
    expect((text.match(/<br\/>(ALLOW|BLOCK) /g) ?? []).length).toBe(rules.length);
    if (rules.length) expect(text).toContain('task -.->|"DNS lookups"| dnsfw');
  });

  test("the ledger table the operations commands derive for a stage is the one its stack declares", () => {
    for (const name of ["dev", "prod"] as const) {
      const tables = Object.values(stacks[name].json.resource?.aws_dynamodb_table ?? {}).map((t) => t.name);
      expect(tables).toEqual([ledgerTableName(stageData(name))]);
    }
  });

  test.each([
    ["10.44.0.0/16", 4, 0, "10.44.0.0/20"],
    ["10.44.0.0/16", 4, 1, "10.44.16.0/20"],
    ["10.44.0.0/16", 4, 15, "10.44.240.0/20"],
    ["10.0.0.0/8", 8, 255, "10.255.0.0/16"],
  ])("cidrsubnet(%s, %i, %i) is %s, as Terraform computes it", (prefix, bits, num, want) => {
    expect(cidrsubnet(prefix, bits, num)).toBe(want);
  });
});
