/**
 * `npm run doctor -- --stage <stage>`: checks a live account before and after a deploy and
 * prints a checklist, with what to do for each failure (scripts/lib/doctor.ts lists the
 * checks). Exit 1 when a check fails; warnings and checks that cannot be made here do not
 * fail it. Region and account come from the stage data; credentials from the usual AWS
 * environment (the stage's operator role). For `local`, the moto endpoint is
 * AWS_ENDPOINT_URL, else VIBE_LOCAL_AWS_ENDPOINT, else the stage's default, with moto's
 * static test keys when no credentials are set.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECRClient } from "@aws-sdk/client-ecr";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { AWS_ENV_DOCS, Cli, EXIT, STANDARD_EXIT_DOCS, stageOption, type CliIo } from "../app/src/cli-kit";
import { devStage, localStage, prodStage, type StageConfig, type StageName } from "../modules/stages";
import { Doctor, renderChecklist, type DoctorClients } from "./lib/doctor";

/** The stage's config as the doctor sees it (the local stage pointed at `endpoint`). */
export function doctorStage(name: StageName, env: NodeJS.ProcessEnv): StageConfig {
  if (name === "local") return localStage({ awsEndpoint: env.AWS_ENDPOINT_URL || env.VIBE_LOCAL_AWS_ENDPOINT || undefined });
  return name === "dev" ? devStage() : prodStage();
}

/** SDK clients for the stage: its region; on the emulator its endpoint, capped retries, test keys when none are set. */
export function doctorClients(stage: StageConfig, env: NodeJS.ProcessEnv): DoctorClients {
  const emulator = stage.target.kind === "emulator" ? stage.target.endpoint : undefined;
  const config = {
    region: stage.region,
    maxAttempts: emulator ? 2 : 3,
    ...(emulator ? { endpoint: emulator } : {}),
    ...(emulator && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE ? { credentials: { accessKeyId: "test", secretAccessKey: "test" } } : {}),
  };
  return {
    sesv2: new SESv2Client(config),
    ssm: new SSMClient(config),
    sns: new SNSClient(config),
    ecr: new ECRClient(config),
    scheduler: new SchedulerClient(config),
    dynamodb: new DynamoDBClient(config),
  };
}

export function doctorCli(io?: CliIo, env: NodeJS.ProcessEnv = process.env, now?: () => Date): Cli {
  const cli = new Cli(
    "doctor",
    {
      invocation: "npm run doctor --",
      description:
        "Checks a stage's live account before and after a deploy: SES identity and DKIM, production access and quota, every SecureString set, a confirmed alarm subscription, the image in ECR, the schedules enabled, the last run's outcome. Prints a checklist with what to do for each failure.",
      env: [...AWS_ENV_DOCS, { name: "VIBE_LOCAL_AWS_ENDPOINT", description: "moto URL for --stage local when AWS_ENDPOINT_URL is unset" }],
      exitCodes: [
        { code: EXIT.ok, meaning: "no check failed (warnings and checks that cannot be made here do not count)" },
        { code: EXIT.failed, meaning: "a check failed: its line says what to do" },
        STANDARD_EXIT_DOCS.config,
        STANDARD_EXIT_DOCS.internal,
        STANDARD_EXIT_DOCS.usage,
      ],
      examples: ["npm run doctor -- --stage prod", "AWS_PROFILE=vibe-digest-prod-operator npm run doctor -- --stage prod --json"],
    },
    io,
  );
  cli.action<{ json?: boolean; stage: StageName }>(cli.program.addOption(stageOption(["local", "dev", "prod"])), async ({ out, opts }) => {
    const stage = doctorStage(opts.stage, env);
    const clients = doctorClients(stage, env);
    try {
      const results = await new Doctor(stage, clients, { now }).run();
      const failed = results.filter((r) => r.status === "fail").length;
      if (out.json) for (const r of results) out.info(`check ${r.id}`, { ...r });
      const exitCode = failed ? EXIT.failed : EXIT.ok;
      out.result({ ok: failed === 0, stage: stage.name, failed, checks: results.length, exitCode }, renderChecklist(stage, results));
      return exitCode;
    } finally {
      for (const c of Object.values(clients)) c.destroy();
    }
  });
  return cli;
}

if (require.main === module) {
  doctorCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
