/**
 * The train_data layout and its `labels.txt` index, as the seed's 01.py writes them.
 *
 * ```
 * train_data/
 *   labels.txt
 *   mix.json            (stemscope: the configuration that made this folder)
 *   split.json          (stemscope: train/test assignment of every sample)
 *   sample_0/mixed.wav  sample_0/source1.wav  sample_0/source2.wav  [... sourceK.wav]
 *   sample_1/...
 * ```
 *
 * `labels.txt` has one line per sample, fields separated by single spaces:
 *
 * ```
 * <dir>/mixed.wav <dir>/source1.wav ... <dir>/sourceK.wav <label1> ... <labelK>
 * ```
 *
 * so a line has 1 + 2K fields (5 for the seed's two-source mixtures). `<dir>` is
 * `os.path.join(output_dir, f"sample_{index}")` with `output_dir` exactly as given on the command
 * line (e.g. `./train_data/sample_0/mixed.wav`), `index` counts from 0 over all samples, and the
 * labels are the class folder names in alphabetical order, `sourceJ.wav` being the clip of
 * `labelJ`. `mixed.wav` is the sample-wise sum of the source files (exact in 16-bit integers).
 * Paths and labels cannot contain whitespace.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../../util/atomic.js";
import { readText } from "./files.js";

/** The index's file name inside a train_data folder. */
export const LABELS_TXT_NAME = "labels.txt";

/**
 * Where a path written in labels.txt is, for every reader (training, eval, check): first
 * `<dir>/<sample folder>/<file>` — the train_data folder's own copy, wherever the folder was moved
 * since mixing — then the path as written (relative to the working directory, as the seed opened it).
 * @param dir the train_data folder
 * @returns the path to open, or undefined when neither exists
 */
export function resolveSamplePath(dir: string, written: string): string | undefined {
  const inDir = join(dir, basename(dirname(written)), basename(written));
  if (existsSync(inDir)) return inDir;
  if (existsSync(written)) return written;
  return undefined;
}

/**
 * Python's `os.path.join` for POSIX paths: joins with "/" unless the left part already ends with
 * "/", and an absolute part discards everything before it.
 */
export function pyJoin(...parts: string[]): string {
  let out = "";
  for (const part of parts) {
    if (part.startsWith("/")) out = part;
    else if (out === "" || out.endsWith("/")) out += part;
    else out += `/${part}`;
  }
  return out;
}

/** The folder of sample `index` as written in labels.txt, e.g. `./train_data/sample_3`. */
export function sampleDirLabel(outputDir: string, index: number): string {
  return pyJoin(outputDir, `sample_${index}`);
}

/** File names inside a sample folder for K sources: `mixed.wav`, `source1.wav` … `sourceK.wav`. */
export function sampleFileNames(sources: number): string[] {
  return ["mixed.wav", ...Array.from({ length: sources }, (_, j) => `source${j + 1}.wav`)];
}

/** One labels.txt line (without the newline) for a sample. */
export function formatLabelLine(outputDir: string, index: number, labels: readonly string[]): string {
  const names = sampleFileNames(labels.length);
  return [...names.map((n) => pyJoin(outputDir, `sample_${index}`, n)), ...labels].join(" ");
}

/** A parsed labels.txt line. */
export interface LabelLine {
  /** 1-based line number in the file. */
  lineNumber: number;
  mixed: string;
  sources: string[];
  labels: string[];
}

/**
 * Parses one labels.txt line. Returns undefined when the field count is not 1 + 2K for some K ≥ 2
 * (the caller reports the line). Fields are split on runs of whitespace, as Python's `str.split()`.
 */
export function parseLabelLine(line: string, lineNumber: number): LabelLine | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 5 || fields.length % 2 === 0) return undefined;
  const k = (fields.length - 1) / 2;
  return {
    lineNumber,
    mixed: fields[0]!,
    sources: fields.slice(1, 1 + k),
    labels: fields.slice(1 + k),
  };
}

/** A non-empty line of labels.txt. */
export interface LabelsTxtLine {
  /** 1-based line number in the file. */
  lineNumber: number;
  /** The line as written, without its newline (and a Windows `\r`). */
  text: string;
  /** Its fields, or undefined when the field count is not 1 + 2K, K ≥ 2 (the caller reports it). */
  parsed: LabelLine | undefined;
}

/**
 * Reads a labels.txt file: its non-empty lines, each parsed.
 * @throws as readText (files.ts) when the file cannot be read
 */
export function readLabelsTxt(path: string): LabelsTxtLine[] {
  const out: LabelsTxtLine[] = [];
  readText(path)
    .split("\n")
    .forEach((line, i) => {
      const text = line.replace(/\r$/, "");
      if (text.trim() !== "") out.push({ lineNumber: i + 1, text, parsed: parseLabelLine(text, i + 1) });
    });
  return out;
}

/** Writes `<dir>/labels.txt` (atomically), one line per sample (see {@link formatLabelLine}). @returns its path */
export async function writeLabelsTxt(dir: string, lines: readonly string[]): Promise<string> {
  const path = join(dir, LABELS_TXT_NAME);
  await writeFileAtomic(path, `${lines.join("\n")}\n`);
  return path;
}
