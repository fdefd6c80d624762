/**
 * Jest global setup: one moto server for the whole suite (tests isolate themselves with
 * unique parameter roots and addresses instead of resetting it), and TMPDIR inside the
 * project so cdktf's Testing helpers leave nothing in the system temp folder.
 */
import fs from "node:fs";
import path from "node:path";
import { startMoto } from "./moto";

export default async function globalSetup(): Promise<void> {
  const tmp = path.join(__dirname, "..", "..", ".tmp");
  fs.mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  const moto = await startMoto();
  process.env.MOTO_URL = moto.url;
  (globalThis as { __moto?: typeof moto }).__moto = moto;
}
