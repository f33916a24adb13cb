import { readFileSync } from "node:fs";
import { DataError } from "../errors.js";

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

/**
 * The parsed JSON of a dataset file (mix.json, split.json), or undefined when it does not exist.
 * @throws DataError naming the file when it cannot be read or is not valid JSON
 */
export function readOptionalJson(path: string): unknown {
  const text = readOptionalText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DataError(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

/**
 * The text of a dataset file that must exist (labels.txt, …).
 * @throws DataError naming the file when it is a folder; Node's error, with the path on it, otherwise
 *   (the CLI words those, see src/cli/fs-errors.ts)
 */
export function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const errno = error as NodeJS.ErrnoException;
    if (errno.code === "EISDIR")
      throw new DataError(`${path}: is a folder, but a file was expected`, { cause: error });
    // Node leaves the path off errors of read(2), e.g. EIO.
    if (typeof errno.code === "string" && errno.path === undefined) errno.path = path;
    throw error;
  }
}
