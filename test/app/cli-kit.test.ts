import { Cli, CliError, EXIT, describeFailure, stageOption, type CliIo } from "../../app/src/cli-kit";
import { mapAwsError } from "../../app/src/errors";

function collectingIo(isTTY: boolean): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

/** A small command in the shape every project command has. */
function demo(io: CliIo) {
  const cli = new Cli("demo", {
    invocation: "npm run demo --",
    description: "A demo command.",
    env: [{ name: "DEMO_ROOT", description: "where it looks" }],
    exitCodes: [
      { code: EXIT.ok, meaning: "done" },
      { code: EXIT.usage, meaning: "bad command line" },
    ],
  }, io);
  const group = cli.command("thing", "things");
  cli.action<{ json?: boolean; offline?: boolean }>(cli.command("show <name>", "shows a thing", {}, group).option("--offline", "no network"), ({ out, args, opts }) => {
    out.result({ ok: true, name: args[0], offline: opts.offline === true, exitCode: EXIT.ok } as never, [`thing ${args[0]}`]);
    return EXIT.ok;
  });
  cli.action(cli.command("fail", "fails").addOption(stageOption(["local", "dev", "prod"])), () => {
    throw new CliError("DEMO_FAILED", "it failed", EXIT.failed, "try again");
  });
  return cli;
}

describe("Cli (the one command-line convention)", () => {
  test("when --help is given, it prints the description, the environment and the exit codes, and exits 0", async () => {
    const io = collectingIo(true);
    expect(await demo(io).run(["--help"])).toBe(EXIT.ok);
    const help = io.out.join("");
    expect(help).toContain("A demo command.");
    expect(help).toMatch(/Environment:\n\s+DEMO_ROOT\s+where it looks/);
    expect(help).toMatch(/Exit codes:\n\s+0\s+done\n\s+64\s+bad command line/);
  });

  test("when a subcommand's --help is given, it carries the same environment and exit codes", async () => {
    const io = collectingIo(true);
    expect(await demo(io).run(["thing", "show", "--help"])).toBe(EXIT.ok);
    expect(io.out.join("")).toMatch(/shows a thing[\s\S]*--offline[\s\S]*DEMO_ROOT[\s\S]*Exit codes:/);
  });

  test("when an option is misspelt, it refuses with exit 64 and suggests the right one", async () => {
    const io = collectingIo(true);
    expect(await demo(io).run(["thing", "show", "x", "--ofline"])).toBe(EXIT.usage);
    expect(io.err.join("")).toMatch(/demo: unknown option '--ofline'[\s\S]*Did you mean --offline\?[\s\S]*--help/);
    expect(io.out).toEqual([]);
  });

  test.each([[[]], [["thing"]]])("when run as %j without a subcommand, it prints help on stderr and exits 64 (nothing runs)", async (argv) => {
    const io = collectingIo(true);
    expect(await demo(io).run(argv)).toBe(EXIT.usage);
    expect(io.err.join("")).toContain("Usage:");
    expect(io.out).toEqual([]);
  });

  test("when an argument is missing or extra, it exits 64", async () => {
    expect(await demo(collectingIo(true)).run(["thing", "show"])).toBe(EXIT.usage);
    expect(await demo(collectingIo(true)).run(["thing", "show", "a", "b"])).toBe(EXIT.usage);
  });

  test("when a required --stage is missing or not a stage, it exits 64", async () => {
    expect(await demo(collectingIo(true)).run(["fail"])).toBe(EXIT.usage);
    const io = collectingIo(true);
    expect(await demo(io).run(["fail", "--stage", "staging"])).toBe(EXIT.usage);
    expect(io.err.join("")).toMatch(/Allowed choices are local, dev, prod/);
  });

  test("in a terminal, the result is text on stdout and an error is text on stderr with its hint", async () => {
    const io = collectingIo(true);
    expect(await demo(io).run(["thing", "show", "a"])).toBe(EXIT.ok);
    expect(io.out.join("")).toBe("thing a\n");
    const io2 = collectingIo(true);
    expect(await demo(io2).run(["fail", "--stage", "dev"])).toBe(EXIT.failed);
    expect(io2.err.join("")).toBe("demo: it failed\n  try again\n");
    expect(io2.out).toEqual([]);
  });

  test.each([
    ["not a terminal", false, []],
    ["--json in a terminal", true, ["--json"]],
  ])("with %s, every stdout line is JSON and the last is the result", async (_label, tty, extra) => {
    const io = collectingIo(tty);
    expect(await demo(io).run(["thing", "show", "a", ...extra])).toBe(EXIT.ok);
    expect(io.out.map((l) => JSON.parse(l))).toEqual([{ ok: true, name: "a", offline: false, exitCode: 0 }]);
    const io2 = collectingIo(tty);
    expect(await demo(io2).run(["fail", "--stage", "dev", ...extra])).toBe(EXIT.failed);
    expect(JSON.parse(io2.out.join(""))).toEqual({ level: "error", ok: false, code: "DEMO_FAILED", message: "it failed", hint: "try again", exitCode: EXIT.failed });
    const io3 = collectingIo(tty);
    expect(await demo(io3).run(["thing", "show", "a", "--nope", ...extra])).toBe(EXIT.usage);
    expect(JSON.parse(io3.out.join(""))).toMatchObject({ ok: false, code: "USAGE", exitCode: EXIT.usage });
  });
});

describe("describeFailure", () => {
  const sdkError = (name: string, status?: number) => Object.assign(new Error("The security token included in the request is invalid for AKIA-like input"), { name, $metadata: { httpStatusCode: status, requestId: "req-1" } });

  test("when no credentials are found, it says so (not 'rejected') with exit 2", () => {
    const e = describeFailure(Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }));
    expect([e.code, e.exitCode]).toEqual(["AWS_CREDENTIALS_MISSING", EXIT.config]);
    expect(describeFailure(mapAwsError(Object.assign(new Error("x"), { name: "CredentialsProviderError" }), "ssm:GetParameters", "/vibecoding")).code).toBe("AWS_CREDENTIALS_MISSING");
  });

  test.each(["UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"])(
    "when AWS answers %s, it says the credentials were rejected, keeps the request id and drops the message",
    (name) => {
      const e = describeFailure(sdkError(name, 403));
      expect([e.code, e.exitCode]).toEqual(["AWS_CREDENTIALS_INVALID", EXIT.config]);
      expect(e.message).toContain("req-1");
      expect(e.message).not.toContain("security token");
    },
  );

  test("when the region is missing, it names AWS_REGION", () => {
    const e = describeFailure(new Error("Region is missing"));
    expect(e.code).toBe("AWS_REGION_MISSING");
    expect(e.message).toContain("AWS_REGION");
  });

  test("when access is denied, it is a config failure that says which doc lists the roles", () => {
    const e = describeFailure(sdkError("AccessDeniedException", 400));
    expect([e.code, e.exitCode]).toEqual(["AWS_ACCESS_DENIED", EXIT.config]);
    expect(e.hint).toContain("docs/operations.md");
  });

  test("when the endpoint refuses connections, it says network and points at AWS_ENDPOINT_URL", () => {
    const e = describeFailure(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));
    expect(e.code).toBe("NETWORK");
    expect(e.hint).toContain("AWS_ENDPOINT_URL");
  });
});
