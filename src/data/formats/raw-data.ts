import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.js";

/** One class folder of a raw_data library: `raw_data/<name>/*.wav`. */
export interface RawClass {
  /** Folder name, used as the label (e.g. "piano"). */
  name: string;
  /** `.wav` file names inside the folder (not paths), sorted by code point like Python's `sorted`. */
  files: string[];
}

/** Sorts strings by UTF-16 code unit, the order of Python's `sorted()` for BMP text. */
export function codePointSort(items: string[]): string[] {
  return items.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** True for names stemscope treats as audio clips in raw_data (`*.wav`, any case). */
export function isWavName(name: string): boolean {
  return /\.wav$/i.test(name) && !name.startsWith(".");
}

/**
 * Lists the class folders of a raw_data library: every non-hidden sub-folder of `dir`, sorted,
 * with its `.wav` files. Folders without any `.wav` file are returned with `files: []` (callers
 * decide whether that is an error). Other entries (files such as manifest.jsonl) are ignored.
 *
 * @throws DataError when `dir` is missing or not a folder
 */
export function listRawData(dir: string): RawClass[] {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory())
      throw new DataError(
        `${dir}: is not a folder; expected a raw_data folder with one sub-folder per class`,
      );
    entries = readdirSync(dir);
  } catch (error) {
    if (error instanceof DataError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new DataError(
        `${dir}: folder not found; expected a raw_data folder with one sub-folder of .wav clips per class`,
        { cause: error },
      );
    throw new DataError(`${dir}: cannot read folder (${(error as Error).message})`, { cause: error });
  }
  const classes: RawClass[] = [];
  for (const name of codePointSort(entries.filter((e) => !e.startsWith(".")))) {
    const path = join(dir, name);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) continue;
    classes.push({ name, files: codePointSort(readdirSync(path).filter(isWavName)) });
  }
  return classes;
}

/** A sample folder of a train_data folder: `sample_<index>`. */
export function isSampleDirName(name: string): boolean {
  return /^sample_\d+$/.test(name);
}

/**
 * What marks `dir` as a train_data folder made by `stemscope mix` (labels.txt, mix.json, sample_*
 * folders), e.g. `["labels.txt", "24 sample_* folder(s)"]`; empty for anything else.
 */
export function trainDataMarks(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const names = readdirSync(dir);
  const marks = ["labels.txt", "mix.json"].filter((n) => names.includes(n));
  const samples = names.filter(isSampleDirName).length;
  return [...marks, ...(samples > 0 ? [`${samples} sample_* folder(s)`] : [])];
}
