/**
 * `manifest.jsonl` of a raw_data folder: one line per clip `stemscope synth` rendered. The one reader
 * and writer of the file (and of synth's journal, which holds the same lines).
 */
import { join } from "node:path";
import { z } from "zod";
import { DataError } from "../errors.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { readOptionalText } from "./files.js";

/**
 * One line of `raw_data/manifest.jsonl`, written by `stemscope synth` for every clip, so a user can
 * split by timbre source (`stemscope mix --split-by soundfont`).
 */
export const ManifestEntrySchema = z.object({
  /** Clip path relative to the raw_data folder, with "/" separators: `<class>/<id>.wav`. */
  file: z.string().min(1),
  /** Class (folder) name. */
  class: z.string().min(1),
  /** Source group, e.g. "fluidr3" (the name `mix --split-by soundfont` splits by). */
  soundfont: z.string().min(1),
  /** The General MIDI program number 0–127 of the timbre (its GM equivalent for other banks). */
  program: z.number().int().min(0).max(127),
  /** The notes played: MIDI note number, start and length in seconds. */
  notes: z.array(z.object({ note: z.number().int(), start: z.number(), duration: z.number() })),
  /** Note-on velocity 1–127 (notes of one clip share it). */
  velocity: z.number().int().min(1).max(127),
  /** Pattern and expression settings of the clip (pattern, reverb, chorus, vibrato, bend, gainDb …). */
  effects: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  /** Seed label of the clip's random stream (reproduces it with the run's seed). */
  seed: z.string(),
  /** Kind of timbre source: a soundfont, a sample library (made into a bank) or our model. */
  source: z.enum(["soundfont", "samples", "model"]).optional(),
  /**
   * Source group, for leave-one-group-out splits: a320u, fluidr3, musescore, timgm6mb, sonivox,
   * salamander, grandorgue, sonicpi, physical (or a soundfont file's name). Equals `soundfont`.
   */
  group: z.string().min(1).optional(),
  /** The preset played: bank MSB, program within the bank, name (for models: the model). */
  preset: z.object({ bank: z.number().int(), program: z.number().int(), name: z.string() }).optional(),
  /** Condition transformations applied (absent keys: none), e.g. formantShift, eq, roomRt60. */
  transforms: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** A model's drawn instrument: its kind and parameters. */
  model: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  /**
   * A layered clip's second part (`synth --layers`): its preset (of the same group), formant shift
   * (semitones), detune (cents), onset delay (s), level against the main part (dB), model.
   */
  layer: z
    .object({
      preset: z.object({ bank: z.number().int(), program: z.number().int(), name: z.string() }),
      formantShift: z.number(),
      detuneCents: z.number(),
      delay: z.number(),
      gainDb: z.number(),
      model: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    })
    .optional(),
});

export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

/** The manifest's file name inside a raw_data folder. */
export const MANIFEST_NAME = "manifest.jsonl";

/**
 * Reads `<dir>/manifest.jsonl`. Returns undefined when the file does not exist.
 * @throws DataError naming the line when a line is not valid JSON or misses fields
 */
export function readManifest(dir: string): ManifestEntry[] | undefined {
  const path = join(dir, MANIFEST_NAME);
  const text = readOptionalText(path);
  if (text === undefined) return undefined;
  const entries: ManifestEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new DataError(`${path}:${i + 1}: not valid JSON: ${line.slice(0, 120)}`);
    }
    const parsed = ManifestEntrySchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DataError(
        `${path}:${i + 1}: ${issue?.path.join(".") ?? ""} ${issue?.message ?? "invalid entry"}`,
      );
    }
    entries.push(parsed.data);
  }
  return entries;
}

/**
 * The entries a manifest or its journal (`path`) holds after an interruption: lines that do not
 * parse — one cut short by a kill — are skipped, and their clips are simply made again.
 * @returns [] when the file does not exist
 */
export function readManifestEntriesLenient(path: string): ManifestEntry[] {
  const text = readOptionalText(path);
  if (text === undefined) return [];
  const out: ManifestEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const parsed = ManifestEntrySchema.safeParse(JSON.parse(line));
      if (parsed.success) out.push(parsed.data);
    } catch {
      // a line cut by an interruption
    }
  }
  return out;
}

/** One manifest line (with its newline): the entry as JSON. */
export function manifestLine(entry: ManifestEntry): string {
  return `${JSON.stringify(entry)}\n`;
}

/** Writes `<dir>/manifest.jsonl` (atomically). */
export async function writeManifest(dir: string, entries: readonly ManifestEntry[]): Promise<void> {
  await writeFileAtomic(join(dir, MANIFEST_NAME), entries.map(manifestLine).join(""));
}
