/**
 * Reading a train_data folder for training: labels.txt (format in labels.ts) → samples with resolved
 * file paths and class indices, the class list, and the train/test split (split.json, or a seeded
 * per-sample split).
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Random } from "../../util/random.js";
import { DataError } from "../errors.js";
import { LABELS_TXT_NAME, readLabelsTxt, resolveSamplePath } from "../formats/labels.js";
import { readMixJson } from "../formats/mix-json.js";
import { codePointSort } from "../formats/raw-data.js";
import { readSplitJson, SPLIT_JSON_NAME } from "../formats/split-json.js";

/** One sample of labels.txt. */
export interface SampleRef {
  /** Position in labels.txt (0-based, over non-empty lines). */
  index: number;
  /** 1-based line number in labels.txt. */
  line: number;
  /** The sample folder as written in labels.txt (e.g. `./train_data/sample_3`), split.json's key. */
  name: string;
  /** Resolved path of mixed.wav. */
  mixed: string;
  /** Resolved paths of source1.wav … sourceK.wav. */
  sources: string[];
  /** Class names of the sources, in source order. */
  labels: string[];
}

/** A parsed train_data folder. */
export interface TrainData {
  dir: string;
  labelsPath: string;
  samples: SampleRef[];
  /** Class names sorted by code point (the seed's label order); a label's index is its position here. */
  classes: string[];
  /** Sources per sample (K). */
  sources: number;
  /** Sample rate and clip length of the folder (mix.json), when it has one. */
  audio: { sampleRate: number; seconds: number } | null;
}

/** Which samples train and which test. */
export interface DataSplit {
  /** Indices into {@link TrainData.samples}. */
  train: number[];
  test: number[];
  /** `split.json`, `seeded` (no split.json) or `random` (asked for). */
  source: "split.json" | "seeded" | "random";
}

/** Why a dataset of fewer than 2 classes cannot train (train's error, check's finding). */
export function tooFewClassesMessage(labelsPath: string, classes: readonly string[]): string {
  return `${labelsPath}: only ${classes.length} class (${classes.join(", ")}); a classifier needs at least 2 classes`;
}

/**
 * Reads `<dir>/labels.txt` and checks it for training.
 *
 * @param options.classes the classes a model already knows (a resumed run): labels outside them are
 *   errors, and they become the class list. Otherwise the classes of mix.json when present (labels
 *   outside them are errors), else the labels found.
 * @throws DataError naming the file and line: no folder, missing or empty labels.txt, a malformed
 *   line, lines with different source counts, a missing audio file, an unknown label, fewer than 2 classes
 */
export function readTrainData(dir: string, options: { classes?: readonly string[] } = {}): TrainData {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DataError(`${dir}: folder not found; expected a train_data folder made by \`stemscope mix\``);
  }
  const labelsPath = join(dir, LABELS_TXT_NAME);
  if (!existsSync(labelsPath)) {
    throw new DataError(
      `${labelsPath}: not found; a train_data folder needs labels.txt (one line per sample: ` +
        `<dir>/mixed.wav <dir>/source1.wav … <label1> …, as \`stemscope mix\` writes it)`,
    );
  }
  const samples: SampleRef[] = [];
  let sources = 0;
  for (const { lineNumber, text, parsed } of readLabelsTxt(labelsPath)) {
    if (parsed === undefined) {
      const fields = text.trim();
      throw new DataError(
        `${labelsPath}:${lineNumber}: expected 1 + 2K fields (mixed.wav, K source files, K labels; K ≥ 2), got ${fields.split(/\s+/).length}: "${fields.slice(0, 200)}"`,
      );
    }
    if (sources === 0) sources = parsed.sources.length;
    if (parsed.sources.length !== sources) {
      throw new DataError(
        `${labelsPath}:${lineNumber}: ${parsed.sources.length} sources, but earlier lines have ${sources}; every sample needs the same number of sources`,
      );
    }
    const resolve = (written: string): string => {
      const path = resolveSamplePath(dir, written);
      if (path === undefined) {
        throw new DataError(
          `${labelsPath}:${lineNumber}: ${written} not found (looked in ${join(dir, basename(dirname(written)))} and relative to ${process.cwd()})`,
        );
      }
      return path;
    };
    samples.push({
      index: samples.length,
      line: lineNumber,
      name: dirname(parsed.mixed),
      mixed: resolve(parsed.mixed),
      sources: parsed.sources.map(resolve),
      labels: parsed.labels,
    });
  }
  if (samples.length === 0) {
    throw new DataError(
      `${labelsPath}: empty; it lists no samples (run \`stemscope mix\` to make a train_data folder)`,
    );
  }

  const mix = readMixJson(dir);
  let known: string[] | undefined;
  let knownFrom = "";
  if (options.classes !== undefined) {
    known = [...options.classes];
    knownFrom = "the model being resumed";
  } else if (mix !== undefined) {
    known = codePointSort([...mix.classes]);
    knownFrom = `${join(dir, "mix.json")}`;
  }
  const found = new Set<string>();
  for (const s of samples) {
    for (const label of s.labels) {
      if (known !== undefined && !known.includes(label)) {
        throw new DataError(
          `${labelsPath}:${s.line}: unknown label "${label}"; the classes of ${knownFrom} are ${known.join(", ")}`,
        );
      }
      found.add(label);
    }
  }
  const classes = known ?? codePointSort([...found]);
  if (classes.length < 2) throw new DataError(tooFewClassesMessage(labelsPath, classes));
  const audio = mix === undefined ? null : { sampleRate: mix.config.sampleRate, seconds: mix.config.seconds };
  return { dir, labelsPath, samples, classes, sources, audio };
}

/** Class indices of a sample's labels, in source order. */
export function labelIndices(data: TrainData, sample: SampleRef): number[] {
  return sample.labels.map((l) => data.classes.indexOf(l));
}

/**
 * The train/test split.
 *
 * - `auto`: `<dir>/split.json` (written by `stemscope mix`) when present, else a seeded per-sample
 *   split with `testFraction` of the samples on the test side;
 * - `random`: that per-sample split even when split.json exists (the seed's leaky split).
 *
 * @throws DataError when split.json is unreadable, names samples not in labels.txt, or either side is empty
 */
export function splitTrainData(
  data: TrainData,
  mode: "auto" | "random",
  options: { seed: number; testFraction: number },
): DataSplit {
  const lists = mode === "auto" ? readSplitJson(data.dir) : undefined;
  if (lists !== undefined) {
    const splitPath = join(data.dir, SPLIT_JSON_NAME);
    const byName = new Map<string, number>();
    for (const s of data.samples) {
      byName.set(s.name, s.index);
      byName.set(basename(s.name), s.index);
    }
    const lookup = (names: string[]): number[] =>
      names.map((n) => {
        const i = byName.get(n) ?? byName.get(basename(n));
        if (i === undefined) throw new DataError(`${splitPath}: sample "${n}" is not in ${data.labelsPath}`);
        return i;
      });
    const split: DataSplit = { train: lookup(lists.train), test: lookup(lists.test), source: "split.json" };
    if (split.train.length === 0 || split.test.length === 0) {
      throw new DataError(
        `${splitPath}: ${split.train.length} train and ${split.test.length} test samples; training needs both (use \`split\` random, or mix with \`testFraction\` > 0)`,
      );
    }
    return split;
  }
  const order = new Random(options.seed).fork("train:split").shuffle(data.samples.map((s) => s.index));
  const testCount = Math.ceil(order.length * options.testFraction);
  if (testCount < 1 || order.length - testCount < 1) {
    throw new DataError(
      `${data.labelsPath}: ${order.length} sample(s) cannot be split into train and test; add samples`,
    );
  }
  return {
    test: order.slice(0, testCount).sort((a, b) => a - b),
    train: order.slice(testCount).sort((a, b) => a - b),
    source: mode === "random" ? "random" : "seeded",
  };
}
