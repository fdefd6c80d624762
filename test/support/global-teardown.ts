import type { MotoServer } from "./moto";
import type { SharedStageCoordinator } from "./shared-stage";

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __moto?: MotoServer; __sharedStage?: SharedStageCoordinator };
  await g.__sharedStage?.close();
  await g.__moto?.stop();
}
