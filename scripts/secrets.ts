/**
 * Operator command for secret parameters. The value is read from standard input, never
 * from the command line (which lands in shell history and `ps`), and never printed.
 *
 *   printf %s "$KEY" | npm run secrets -- put sendgrid/api_key [--root /vibecoding]
 *   npm run secrets -- status [--root /vibecoding]
 *
 * Region, credentials and endpoint come from the usual AWS environment
 * (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL for moto).
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import { parseArgs } from "node:util";
import { DEFAULT_PARAMETER_ROOT, PARAMETERS } from "../app/src/contract";
import { SECRET_KEYS, SecretCommandError, putSecret, resolveSecretKey, secretStatus } from "./lib/secrets";

const MAX_SECRET_BYTES = 4096; // Standard-tier SSM parameter limit

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new SecretCommandError("EMPTY_VALUE", "pipe the secret value on standard input");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_SECRET_BYTES) throw new SecretCommandError("EMPTY_VALUE", `the value is over ${MAX_SECRET_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { root: { type: "string", default: DEFAULT_PARAMETER_ROOT } },
  });
  const [command, name] = positionals;
  const ssm = new SSMClient({ maxAttempts: 3 });
  if (command === "put" && name) {
    const key = resolveSecretKey(name);
    const version = await putSecret(ssm, values.root!, key, await readStdin());
    console.log(`put ${values.root}/${PARAMETERS[key].path} (version ${version})`);
    return 0;
  }
  if (command === "status") {
    for (const [param, state] of Object.entries(await secretStatus(ssm, values.root!))) console.log(`${state.padEnd(11)} ${param}`);
    return 0;
  }
  console.error(`usage: npm run secrets -- put <${SECRET_KEYS.map((k) => PARAMETERS[k].path).join("|")}> [--root PATH] < value`);
  console.error("       npm run secrets -- status [--root PATH]");
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error & { Code?: string; $metadata?: { requestId?: string } }) => {
    // AWS errors: keep the code and request id, drop the message (it may echo input).
    const detail = err instanceof SecretCommandError ? err.message : `${err.name}${err.$metadata?.requestId ? ` (request ${err.$metadata.requestId})` : ""}`;
    console.error(`secrets: ${detail}`);
    process.exit(1);
  },
);
