/**
 * `split.json` of a train_data folder: which sample folders are for training and which for testing,
 * written by `stemscope mix`, read by training, eval and check. The one reader and writer of the
 * file.
 */
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../util/atomic.js";
import { DataError } from "../errors.js";
import { readOptionalJson } from "./files.js";
import type { MixConfig } from "./mix-config.js";

/** The file's name inside a train_data folder. */
export const SPLIT_JSON_NAME = "split.json";

/** The train/test assignment written to split.json. */
export interface SplitFile {
  version: 1;
  splitBy: MixConfig["splitBy"];
  testFraction: number;
  seed: number;
  /** Soundfonts held out for test (`splitBy: "soundfont"` only). */
  testSoundfonts?: string[];
  /** Sample folders as written in labels.txt (e.g. `./train_data/sample_0`). */
  train: string[];
  test: string[];
}

/** What a reader needs of split.json (older files and hand-written ones hold only these). */
const SplitListsSchema = z.object({ train: z.array(z.string()), test: z.array(z.string()) });
/** The train and test sample folders of a split.json, as written in labels.txt. */
export type SplitLists = z.infer<typeof SplitListsSchema>;

/**
 * Reads `<dir>/split.json`.
 * @returns undefined when the folder has none
 * @throws DataError naming the file when it is not valid JSON or lacks the `train` and `test` lists
 */
export function readSplitJson(dir: string): SplitLists | undefined {
  const path = join(dir, SPLIT_JSON_NAME);
  const raw = readOptionalJson(path);
  if (raw === undefined) return undefined;
  const parsed = SplitListsSchema.safeParse(raw);
  if (!parsed.success) throw new DataError(`${path}: expected "train" and "test" lists of sample folders`);
  return parsed.data;
}

/** Writes `<dir>/split.json` (atomically). @returns its path */
export async function writeSplitJson(dir: string, split: SplitFile): Promise<string> {
  const path = join(dir, SPLIT_JSON_NAME);
  await writeFileAtomic(path, `${JSON.stringify(split, null, 1)}\n`);
  return path;
}
