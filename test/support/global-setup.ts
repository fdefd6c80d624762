/**
 * Jest global setup: one moto server for the whole suite (tests isolate themselves with
 * unique parameter roots and addresses instead of resetting it), TMPDIR inside the project
 * so cdktf's Testing helpers leave nothing in the system temp folder, and the coordinator
 * of the shared applied local stage (test/support/shared-stage.ts: it applies nothing until
 * a test asks for the stage).
 */
import fs from "node:fs";
import path from "node:path";
import { startMoto } from "./moto";
import { SHARED_STAGE_ENV, startSharedStageCoordinator } from "./shared-stage";

export default async function globalSetup(): Promise<void> {
  const tmp = path.join(__dirname, "..", "..", ".tmp");
  fs.mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  const moto = await startMoto();
  process.env.MOTO_URL = moto.url;
  const sharedStage = await startSharedStageCoordinator(path.join(tmp, `shared-stage-${process.pid}`));
  process.env[SHARED_STAGE_ENV] = sharedStage.url;
  Object.assign(globalThis, { __moto: moto, __sharedStage: sharedStage });
}
