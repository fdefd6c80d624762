/**
 * CDKTF entry: one DigestStack per stage (see modules/stages.ts). This is the only file
 * of the infrastructure that reads the environment.
 *
 *   VIBE_LOCAL_AWS_ENDPOINT   moto URL for the local stage   (default http://127.0.0.1:5055)
 *   VIBE_LOCAL_FEED_BASE_URL  sample feed server             (default http://127.0.0.1:5056)
 *   VIBE_LOCAL_STATE_FILE     the local stage's state file     (default terraform.tfstate in its stack folder)
 *   CDKTF_OUTDIR              output folder                  (default cdktf.out)
 */
import { synthesizeApp } from "./modules/app";
import { DEFAULT_LOCAL_AWS_ENDPOINT, DEFAULT_LOCAL_FEED_BASE_URL } from "./modules/stages";

synthesizeApp({
  outdir: process.env.CDKTF_OUTDIR || "cdktf.out",
  local: {
    awsEndpoint: process.env.VIBE_LOCAL_AWS_ENDPOINT || DEFAULT_LOCAL_AWS_ENDPOINT,
    feedBaseUrl: process.env.VIBE_LOCAL_FEED_BASE_URL || DEFAULT_LOCAL_FEED_BASE_URL,
    ...(process.env.VIBE_LOCAL_STATE_FILE ? { stateFile: process.env.VIBE_LOCAL_STATE_FILE } : {}),
  },
});
