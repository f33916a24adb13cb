/**
 * `mix.json` of a train_data folder: the configuration that made it, its classes and a fingerprint
 * of the raw_data clips — enough to refuse mixing a different configuration into the folder, and to
 * know the folder's classes, sample rate and clip length. The one reader and writer of the file.
 *
 * Version 1 (stemscope 0.1) named the folders `dataDir` and `outputDir`; it reads as version 2.
 */
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../util/atomic.js";
import { DataError } from "../errors.js";
import { readOptionalJson } from "./files.js";
import { MixConfigSchema } from "./mix-config.js";

/** Format tag and version of mix.json. */
export const MIX_JSON_FORMAT = "stemscope-mix";
export const MIX_JSON_VERSION = 2;
/** The file's name inside a train_data folder. */
export const MIX_JSON_NAME = "mix.json";

export const MixManifestSchema = z.object({
  format: z.literal(MIX_JSON_FORMAT),
  version: z.literal(MIX_JSON_VERSION),
  config: MixConfigSchema,
  /** Class folder names of the raw_data, in label order. */
  classes: z.array(z.string().min(1)),
  combinations: z.number().int().min(0),
  samples: z.number().int().min(0),
  /** sha256 over the sorted `<class>/<file> <bytes>` list of the raw_data clips. */
  sourceFingerprint: z.string(),
});
/** What `mix.json` records. */
export type MixManifest = z.infer<typeof MixManifestSchema>;

/** A version-1 mix.json as version 2 (`dataDir` → `data`, `outputDir` → `out`). */
function migrate(raw: unknown): unknown {
  const v = raw as { version?: unknown; config?: Record<string, unknown> } | null;
  if (v?.version !== 1 || typeof v.config !== "object" || v.config === null) return raw;
  const { dataDir, outputDir, ...config } = v.config;
  return { ...v, version: MIX_JSON_VERSION, config: { data: dataDir, out: outputDir, ...config } };
}

/**
 * Reads `<dir>/mix.json`.
 * @returns undefined when the folder has none
 * @throws DataError naming the file and the field when it is not valid JSON or not a mix.json
 */
export function readMixJson(dir: string): MixManifest | undefined {
  const path = join(dir, MIX_JSON_NAME);
  const raw = readOptionalJson(path);
  if (raw === undefined) return undefined;
  const parsed = MixManifestSchema.safeParse(migrate(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(
      `${path}: not a mix.json of this stemscope (${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"})`,
    );
  }
  return parsed.data;
}

/** Writes `<dir>/mix.json` (atomically). */
export async function writeMixJson(dir: string, manifest: MixManifest): Promise<void> {
  await writeFileAtomic(join(dir, MIX_JSON_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
}
