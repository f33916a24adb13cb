import { readFileSync } from "node:fs";
import { DataError } from "./errors.js";

/**
 * The text of a dataset file (mix.json, manifest.jsonl, …), or undefined when it does not exist.
 * @throws DataError naming the file when it exists but cannot be read
 */
export function readOptionalText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new DataError(`${path}: cannot read (${(error as Error).message})`, { cause: error });
  }
}
