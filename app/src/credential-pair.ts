/**
 * The access key pair in Parameter Store (`aws/access_key_id` + `aws/secret_access_key`,
 * the seed's credential mode) read as one value, although SSM stores and writes them as two
 * parameters with no multi-parameter transaction.
 *
 * The rule, shared by the writer (`npm run rotate -- access-key`) and the reader (the
 * sender's config load): every version of the secret that belongs to a key carries an SSM
 * parameter label derived from that key's id ({@link accessKeyPairLabel}). The reader takes
 * the key id first, then the secret version labelled for that id; only when no version
 * carries the label (a pair put by hand with `secrets put`) does it use the latest secret.
 * The writer labels the old secret for the old id, writes and labels the new secret, and
 * writes the new id last. So whatever moment a run reads at, the id it sees has its own
 * secret: the id is the switch, the secret is never half of a pair.
 *
 * A label is visible without decryption (GetParameterHistory), so it is a hash of the id,
 * never the id itself.
 */
import { createHash } from "node:crypto";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { parameterName } from "./contract";
import { mapAwsError } from "./errors";
import { isUnsetValue } from "./validation";

/** Version of the label rule; a new rule gets a new prefix. */
export const PAIR_LABEL_PREFIX = "pair1-";

/** The label of the secret's version that belongs to `accessKeyId` ("pair1-" + 40 hex digits). */
export function accessKeyPairLabel(accessKeyId: string): string {
  const h = createHash("sha256").update(`vibe-digest:access-key-pair:v1:${accessKeyId.trim()}`, "utf8").digest("hex");
  return `${PAIR_LABEL_PREFIX}${h.slice(0, 40)}`;
}

/**
 * Replaces the secret in `values` (full parameter name -> value, as GetParametersByPath
 * returned them below `root`) by the version labelled for the key id in `values`, when such
 * a version exists. Leaves `values` as it is when the key id is unset, or no version carries
 * the label. One GetParameter call, only in the access-key mode. Errors are mapped
 * (mapAwsError) with the secret's name, never its value.
 */
export async function pinPairedSecret(ssm: SSMClient, root: string, values: Map<string, string>): Promise<void> {
  const idName = parameterName(root, "awsAccessKeyId");
  const secretName = parameterName(root, "awsSecretAccessKey");
  const id = values.get(idName);
  if (isUnsetValue(id) || isUnsetValue(values.get(secretName))) return;
  let value: string | undefined;
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: `${secretName}:${accessKeyPairLabel(id!)}`, WithDecryption: true }));
    value = out.Parameter?.Value;
  } catch (err) {
    const e = mapAwsError(err, "ssm:GetParameter", secretName);
    if (e.code === "AWS_PARAMETER_NOT_FOUND") return;
    throw e;
  }
  if (value !== undefined) values.set(secretName, value);
}
