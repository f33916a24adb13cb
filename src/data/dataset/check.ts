/**
 * `checkDataset`: validates a raw_data library or a train_data folder before hours of training.
 * Every finding is a {@link CheckIssue}; errors make the dataset unusable (the CLI exits 1), warnings
 * are worth reading (exit 0).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { AudioError, type DecodedAudio, decodeWav, prepareDecoded } from "../../audio/index.js";
import { errorMessage, parseSettings } from "../../errors.js";
import { DataError } from "../errors.js";
import { tooFewClassesMessage } from "./dataset.js";
import { LABELS_TXT_NAME, readLabelsTxt, resolveSamplePath } from "../formats/labels.js";
import { MIX_JSON_NAME, readMixJson } from "../formats/mix-json.js";
import { codePointSort, listRawData } from "../formats/raw-data.js";
import { readSplitJson, SPLIT_JSON_NAME, type SplitLists } from "../formats/split-json.js";

/** Clips below this peak |sample| (−80 dBFS) count as silent. */
export const SILENCE_PEAK = 1e-4;
/** A run of at least CLIP_RUN samples at |x| ≥ CLIP_LEVEL counts as clipping. */
export const CLIP_LEVEL = 0.999;
export const CLIP_RUN = 3;
/** The seed's recommendations for a raw_data library. */
export const RECOMMENDED_CLIPS_PER_CLASS = 2000;
export const RECOMMENDED_CLASSES = 5;

export type Severity = "error" | "warning";

/** One finding. `code` is stable (for scripts); `message` names the file/line and what was expected. */
export interface CheckIssue {
  severity: Severity;
  code: string;
  message: string;
  /** The file concerned, when there is one. */
  file?: string;
  /** 1-based line number in labels.txt, when there is one. */
  line?: number;
}

/** Per-class statistics of a raw_data library. */
export interface ClassStats {
  name: string;
  clips: number;
  /** Count of clips per sample rate in Hz (as a string key). */
  sampleRates: Record<string, number>;
  /** Count of clips per channel count. */
  channels: Record<string, number>;
  /** Durations in seconds over the readable clips (0s when there are none). */
  duration: { min: number; max: number; mean: number };
  silent: number;
  clipped: number;
  unreadable: number;
}

export interface RawDataReport {
  kind: "raw_data";
  dir: string;
  classes: ClassStats[];
  totalClips: number;
}

export interface TrainDataReport {
  kind: "train_data";
  dir: string;
  /** Non-empty lines of labels.txt. */
  lines: number;
  /** Sources per sample (K), from the first valid line. */
  sources: number | null;
  /** Samples per label (over all positions). */
  labelCounts: Record<string, number>;
  /** Class names the labels were checked against (raw_data of mix.json), or null. */
  knownClasses: string[] | null;
  /** Files decoded (all unless `maxDecode` limited it). */
  decodedFiles: number;
  /** Samples in split.json's train / test lists (null without split.json). */
  split: { train: number; test: number } | null;
}

export interface CheckReport {
  /** No errors. */
  ok: boolean;
  errors: number;
  warnings: number;
  issues: CheckIssue[];
  dataset: RawDataReport | TrainDataReport;
}

/** What check expects, and the defaults (here and nowhere else). */
export const CheckOptionsSchema = z
  .object({
    /** Expected sample rate, Hz. */
    sampleRate: z.number().int().positive().default(16000),
    /** raw_data: expected minimum clip length, seconds. */
    seconds: z.number().min(0).default(2),
    /** train_data: decode at most this many samples' files (absent: all). */
    maxDecode: z.number().int().min(0).optional(),
  })
  .strict();
type CheckSettings = z.output<typeof CheckOptionsSchema> & {
  onProgress?: (done: number, total: number) => void;
};
export type CheckOptions = z.input<typeof CheckOptionsSchema> & {
  onProgress?: (done: number, total: number) => void;
};

class Issues {
  readonly list: CheckIssue[] = [];
  error(code: string, message: string, where: { file?: string; line?: number } = {}): void {
    this.list.push({ severity: "error", code, message, ...where });
  }
  warning(code: string, message: string, where: { file?: string; line?: number } = {}): void {
    this.list.push({ severity: "warning", code, message, ...where });
  }
}

function readWav(path: string): DecodedAudio {
  return decodeWav(readFileSync(path), path);
}

/**
 * Why `mix` and `train` would refuse this audio's samples (NaN or infinite: the loader's own check and
 * words), or null when they are finite.
 */
function nonFiniteAudio(audio: DecodedAudio, path: string): string | null {
  if (audio.channels.every((ch) => ch.every(Number.isFinite))) return null;
  try {
    prepareDecoded(audio, path, audio.sampleRate);
    return null;
  } catch (error) {
    if (error instanceof AudioError) return error.message;
    throw error;
  }
}

/** Peak |x| and whether the signal has a run of CLIP_RUN samples at ≥ CLIP_LEVEL. */
function levelStats(channels: Float32Array[]): { peak: number; clipped: boolean } {
  let peak = 0;
  let clipped = false;
  for (const ch of channels) {
    let run = 0;
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]!);
      if (a > peak) peak = a;
      if (a >= CLIP_LEVEL) {
        run++;
        if (run >= CLIP_RUN) clipped = true;
      } else run = 0;
    }
  }
  return { peak, clipped };
}

/**
 * Validates `dir`: a train_data folder when it holds labels.txt (or mix.json), else a raw_data
 * library (class sub-folders of .wav clips).
 *
 * raw_data: per-class counts, sample rates, channel counts, durations, silent / clipped / unreadable
 * clips; warns under 2,000 clips per class or 5 classes.
 * train_data: every labels.txt line has 1 + 2K fields (the error names the line number and shows the
 * line), every path exists and decodes (mono, same rate and length; mixed ≈ Σ sources), labels match
 * the class folders of the raw_data in mix.json when present, split.json is consistent.
 *
 * @throws DataError only when `dir` does not exist or is not a folder (everything else is an issue)
 */
export function checkDataset(dir: string, input: CheckOptions = {}): CheckReport {
  const { onProgress, ...rest } = input;
  const options: CheckSettings = { ...parseSettings(CheckOptionsSchema, rest, "check options"), onProgress };
  if (!existsSync(dir))
    throw new DataError(`${dir}: folder not found; expected a raw_data or train_data folder`);
  if (!statSync(dir).isDirectory())
    throw new DataError(`${dir}: is not a folder; expected a raw_data or train_data folder`);
  const issues = new Issues();
  const isTrain = existsSync(join(dir, LABELS_TXT_NAME)) || existsSync(join(dir, MIX_JSON_NAME));
  const dataset = isTrain ? checkTrainData(dir, options, issues) : checkRawData(dir, options, issues);
  const errors = issues.list.filter((i) => i.severity === "error").length;
  return { ok: errors === 0, errors, warnings: issues.list.length - errors, issues: issues.list, dataset };
}

function checkRawData(dir: string, options: CheckSettings, issues: Issues): RawDataReport {
  const classes = listRawData(dir);
  const stats: ClassStats[] = [];
  const total = classes.reduce((n, c) => n + c.files.length, 0);
  let done = 0;
  for (const cls of classes) {
    const s: ClassStats = {
      name: cls.name,
      clips: cls.files.length,
      sampleRates: {},
      channels: {},
      duration: { min: 0, max: 0, mean: 0 },
      silent: 0,
      clipped: 0,
      unreadable: 0,
    };
    const durations: number[] = [];
    if (cls.files.length === 0) {
      issues.error(
        "empty-class",
        `${join(dir, cls.name)}: no .wav files; a class folder needs clips (remove it or add clips)`,
        { file: join(dir, cls.name) },
      );
    }
    if (/\s/.test(cls.name)) {
      issues.error(
        "whitespace-name",
        `${join(dir, cls.name)}: class names cannot contain whitespace (labels.txt is space-separated)`,
        { file: join(dir, cls.name) },
      );
    }
    for (const file of cls.files) {
      done++;
      if (done % 200 === 0) options.onProgress?.(done, total);
      const duration = checkClip(join(dir, cls.name, file), options, s, issues);
      if (duration !== undefined) durations.push(duration);
    }
    if (durations.length > 0) {
      s.duration = {
        min: Math.min(...durations),
        max: Math.max(...durations),
        mean: durations.reduce((a, b) => a + b, 0) / durations.length,
      };
    }
    if (cls.files.length > 0 && cls.files.length < RECOMMENDED_CLIPS_PER_CLASS) {
      issues.warning(
        "few-clips",
        `${join(dir, cls.name)}: ${cls.files.length} clips; at least ${RECOMMENDED_CLIPS_PER_CLASS} per class are recommended`,
        { file: join(dir, cls.name) },
      );
    }
    stats.push(s);
  }
  options.onProgress?.(total, total);
  if (classes.length < 2) {
    issues.error(
      "too-few-classes",
      `${dir}: ${classes.length} class folder(s) (${classes.map((c) => c.name).join(", ") || "none"}); mixing needs at least 2 class sub-folders of .wav clips`,
    );
  } else if (classes.length < RECOMMENDED_CLASSES) {
    issues.warning(
      "few-classes",
      `${dir}: ${classes.length} classes (${classes.map((c) => c.name).join(", ")}); at least ${RECOMMENDED_CLASSES} are recommended`,
    );
  }
  return { kind: "raw_data", dir, classes: stats, totalClips: total };
}

/**
 * One clip of a raw_data class: decodes, finite, not empty, not silent or clipped, the rate, mono,
 * long enough; counts it in `s`. @returns its duration in seconds, or undefined when unreadable
 */
function checkClip(path: string, options: CheckSettings, s: ClassStats, issues: Issues): number | undefined {
  const { sampleRate, seconds } = options;
  let audio: DecodedAudio;
  try {
    audio = readWav(path);
  } catch (error) {
    s.unreadable++;
    issues.error(
      "unreadable",
      `${path}: cannot be decoded (${errorMessage(error).replace(`${path}: `, "")})`,
      { file: path },
    );
    return undefined;
  }
  const unusable = nonFiniteAudio(audio, path);
  if (unusable !== null) {
    s.unreadable++;
    issues.error("non-finite", unusable, { file: path });
    return undefined;
  }
  const frames = audio.channels[0]?.length ?? 0;
  s.sampleRates[String(audio.sampleRate)] = (s.sampleRates[String(audio.sampleRate)] ?? 0) + 1;
  s.channels[String(audio.channels.length)] = (s.channels[String(audio.channels.length)] ?? 0) + 1;
  const duration = frames / audio.sampleRate;
  if (frames === 0) {
    issues.error("empty-clip", `${path}: has no samples`, { file: path });
    return duration;
  }
  const { peak, clipped } = levelStats(audio.channels);
  if (peak < SILENCE_PEAK) {
    s.silent++;
    issues.warning(
      "silent",
      `${path}: silent (peak ${peak.toExponential(1)} < ${SILENCE_PEAK}); it would add nothing to a mixture`,
      { file: path },
    );
  }
  if (clipped) {
    s.clipped++;
    issues.warning("clipped", `${path}: clipped (${CLIP_RUN}+ consecutive samples at |x| ≥ ${CLIP_LEVEL})`, {
      file: path,
    });
  }
  if (audio.sampleRate !== sampleRate) {
    issues.warning(
      "sample-rate",
      `${path}: ${audio.sampleRate} Hz, expected ${sampleRate} Hz (mix will resample it)`,
      { file: path },
    );
  }
  if (audio.channels.length !== 1) {
    issues.warning(
      "channels",
      `${path}: ${audio.channels.length} channels, expected mono (mix will average them)`,
      { file: path },
    );
  }
  if (duration + 1e-9 < seconds) {
    issues.warning(
      "short",
      `${path}: ${duration.toFixed(3)} s, shorter than ${seconds} s (mix will zero-pad it)`,
      { file: path },
    );
  }
  return duration;
}

/** A sample as listed in labels.txt: its line, its files as written (mixed first) and its labels. */
interface ListedSample {
  line: number;
  files: string[];
  labels: string[];
}

function checkTrainData(dir: string, options: CheckSettings, issues: Issues): TrainDataReport {
  const labelsPath = join(dir, LABELS_TXT_NAME);
  const report: TrainDataReport = {
    kind: "train_data",
    dir,
    lines: 0,
    sources: null,
    labelCounts: {},
    knownClasses: null,
    decodedFiles: 0,
    split: null,
  };
  const mixClasses = checkMixJson(dir, report, issues);
  if (!existsSync(labelsPath)) {
    issues.error(
      "no-labels",
      `${labelsPath}: not found; a train_data folder needs labels.txt (an interrupted \`stemscope mix\` writes it when re-run)`,
      { file: labelsPath },
    );
    return report;
  }
  const samples = checkLabelLines(labelsPath, report, issues);
  checkLabels(labelsPath, mixClasses, report, issues);
  checkSampleFiles(dir, labelsPath, samples, options, report, issues);
  checkSplit(dir, samples, report, issues);
  return report;
}

/**
 * Known classes: the raw_data folder that mix.json names (else the classes it recorded), into
 * `report.knownClasses`. @returns the classes mix.json recorded, or null without one
 */
function checkMixJson(dir: string, report: TrainDataReport, issues: Issues): string[] | null {
  try {
    const mix = readMixJson(dir);
    if (mix === undefined) return null;
    report.knownClasses = existsSync(mix.config.data)
      ? listRawData(mix.config.data).map((c) => c.name)
      : mix.classes;
    return mix.classes;
  } catch (error) {
    issues.error("bad-mix-json", errorMessage(error), { file: join(dir, MIX_JSON_NAME) });
    return null;
  }
}

/** Every line of labels.txt: field counts, the same K throughout, duplicates; counts the labels. */
function checkLabelLines(labelsPath: string, report: TrainDataReport, issues: Issues): ListedSample[] {
  const samples: ListedSample[] = [];
  const seenDirs = new Map<string, number>();
  for (const { lineNumber: line, text, parsed } of readLabelsTxt(labelsPath)) {
    report.lines++;
    const expected =
      report.sources === null
        ? "1 + 2K fields (mixed, K sources, K labels; 5 for two sources)"
        : `${1 + 2 * report.sources} fields (mixed, ${report.sources} sources, ${report.sources} labels)`;
    if (parsed === undefined) {
      const n = text.trim().split(/\s+/).length;
      issues.error("bad-line", `${labelsPath}:${line}: expected ${expected}, got ${n}: ${text}`, {
        file: labelsPath,
        line,
      });
      continue;
    }
    const k = parsed.sources.length;
    if (report.sources === null) report.sources = k;
    else if (k !== report.sources) {
      issues.error(
        "bad-line",
        `${labelsPath}:${line}: expected ${expected} like line 1, got ${1 + 2 * k}: ${text}`,
        { file: labelsPath, line },
      );
      continue;
    }
    const sampleDir = dirname(parsed.mixed);
    const previous = seenDirs.get(sampleDir);
    if (previous !== undefined) {
      issues.warning(
        "duplicate-sample",
        `${labelsPath}:${line}: ${sampleDir} is already listed on line ${previous}`,
        { file: labelsPath, line },
      );
    } else seenDirs.set(sampleDir, line);
    if (new Set(parsed.labels).size !== parsed.labels.length) {
      issues.warning(
        "repeated-label",
        `${labelsPath}:${line}: the same label appears twice (${parsed.labels.join(" ")}); the sources cannot be told apart by name`,
        { file: labelsPath, line },
      );
    }
    for (const label of parsed.labels) report.labelCounts[label] = (report.labelCounts[label] ?? 0) + 1;
    samples.push({ line, files: [parsed.mixed, ...parsed.sources], labels: parsed.labels });
  }
  if (report.lines === 0)
    issues.error("empty-labels", `${labelsPath}: has no lines; expected one line per sample`, {
      file: labelsPath,
    });

  return samples;
}

/** The labels against the known classes (unknown, unused), their balance, at least two classes. */
function checkLabels(
  labelsPath: string,
  mixClasses: string[] | null,
  report: TrainDataReport,
  issues: Issues,
): void {
  const labels = Object.keys(report.labelCounts).sort();
  if (report.knownClasses !== null) {
    const known = new Set(report.knownClasses);
    for (const label of labels) {
      if (!known.has(label)) {
        issues.error(
          "unknown-label",
          `${labelsPath}: label "${label}" is not a class folder of the raw_data in mix.json (${report.knownClasses.join(", ")})`,
          { file: labelsPath },
        );
      }
    }
    for (const cls of report.knownClasses) {
      if (report.labelCounts[cls] === undefined) {
        issues.warning(
          "unused-class",
          `${labelsPath}: class "${cls}" of the raw_data never appears as a label`,
          { file: labelsPath },
        );
      }
    }
  }
  const counts = Object.values(report.labelCounts);
  if (counts.length > 1) {
    const max = Math.max(...counts);
    for (const label of labels) {
      if (report.labelCounts[label]! * 2 < max) {
        issues.warning(
          "imbalanced-label",
          `${labelsPath}: label "${label}" is in ${report.labelCounts[label]} samples, under half of the most frequent label (${max})`,
          { file: labelsPath },
        );
      }
    }
  }
  // The classes train would have (mix.json's, else the labels): fewer than 2 cannot train.
  const classes = mixClasses ?? labels;
  if (report.lines > 0 && classes.length < 2)
    issues.error("too-few-classes", tooFewClassesMessage(labelsPath, codePointSort([...classes])), {
      file: labelsPath,
    });
  else if (counts.length === 1)
    issues.warning("one-label", `${labelsPath}: only one label (${labels[0]}) appears`, { file: labelsPath });
}

/** Every listed file exists (inside the folder or as written); the first `maxDecode` samples are decoded. */
function checkSampleFiles(
  dir: string,
  labelsPath: string,
  samples: ListedSample[],
  options: CheckSettings,
  report: TrainDataReport,
  issues: Issues,
): void {
  const sampleRate = options.sampleRate;
  const limit = Math.min(samples.length, options.maxDecode ?? samples.length);
  let relocated = 0;
  let firstRelocated = "";
  for (let s = 0; s < samples.length; s++) {
    const sample = samples[s]!;
    if (s % 200 === 0) options.onProgress?.(s, samples.length);
    const resolved: string[] = [];
    for (const written of sample.files) {
      const path = resolveSamplePath(dir, written);
      if (path === undefined) {
        issues.error("missing-file", `${labelsPath}:${sample.line}: ${written} does not exist`, {
          file: written,
          line: sample.line,
        });
        continue;
      }
      if (!existsSync(written)) {
        relocated++;
        if (firstRelocated === "") firstRelocated = written;
      }
      resolved.push(path);
    }
    if (resolved.length !== sample.files.length || s >= limit) continue;
    checkSampleAudio(labelsPath, sample.line, resolved, sampleRate, report, issues);
  }
  options.onProgress?.(samples.length, samples.length);
  if (relocated > 0) {
    issues.warning(
      "relocated-paths",
      `${labelsPath}: ${relocated} paths (e.g. ${firstRelocated}) do not exist relative to the working directory ${process.cwd()} but do inside ${dir}; stemscope reads them from there, but the seed's scripts open them as written (run those from the folder that mix was run from)`,
      { file: labelsPath },
    );
  }
}

/** One sample's decoded files (mixed first): mono, the rate asked, equal lengths, mixed ≈ Σ sources, no clipping. */
function checkSampleAudio(
  labelsPath: string,
  line: number,
  resolved: string[],
  sampleRate: number,
  report: TrainDataReport,
  issues: Issues,
): void {
  const decoded: Float32Array[] = [];
  for (const path of resolved) {
    let audio: DecodedAudio;
    try {
      audio = readWav(path);
    } catch (error) {
      issues.error(
        "unreadable",
        `${labelsPath}:${line}: ${path} cannot be decoded (${errorMessage(error).replace(`${path}: `, "")})`,
        { file: path, line },
      );
      continue;
    }
    report.decodedFiles++;
    const unusable = nonFiniteAudio(audio, path);
    if (unusable !== null) {
      issues.error("non-finite", `${labelsPath}:${line}: ${unusable}`, { file: path, line });
      continue;
    }
    if (audio.channels.length !== 1)
      issues.warning("channels", `${path}: ${audio.channels.length} channels, expected mono`, {
        file: path,
      });
    if (audio.sampleRate !== sampleRate)
      issues.warning("sample-rate", `${path}: ${audio.sampleRate} Hz, expected ${sampleRate} Hz`, {
        file: path,
      });
    decoded.push(audio.channels[0] ?? new Float32Array(0));
  }
  if (decoded.length !== resolved.length) return;
  const mixed = decoded[0]!;
  const sources = decoded.slice(1);
  if (sources.some((x) => x.length !== mixed.length)) {
    issues.error(
      "length-mismatch",
      `${labelsPath}:${line}: files differ in length (${decoded.map((x) => x.length).join(", ")} samples)`,
      { file: resolved[0]!, line },
    );
    return;
  }
  // mixed should be the sum of the sources within 16-bit rounding.
  const tolerance = (sources.length + 1) / 32768 + 1e-6;
  let worst = 0;
  for (let i = 0; i < mixed.length; i++) {
    let sum = 0;
    for (const x of sources) sum += x[i]!;
    const d = Math.abs(mixed[i]! - sum);
    if (d > worst) worst = d;
  }
  if (worst > tolerance) {
    issues.warning(
      "not-a-sum",
      `${labelsPath}:${line}: mixed.wav differs from the sum of its sources by up to ${worst.toFixed(4)} (clipping or different gains); the separation targets do not add up to the input`,
      { file: resolved[0]!, line },
    );
  }
  if (levelStats([mixed]).clipped) {
    issues.warning(
      "clipped",
      `${resolved[0]}: clipped (${CLIP_RUN}+ consecutive samples at |x| ≥ ${CLIP_LEVEL})`,
      { file: resolved[0]!, line },
    );
  }
}

/** split.json: every listed sample on exactly one side, and no sample labels.txt does not list. */
function checkSplit(dir: string, samples: ListedSample[], report: TrainDataReport, issues: Issues): void {
  const splitPath = join(dir, SPLIT_JSON_NAME);
  let split: SplitLists | undefined;
  try {
    split = readSplitJson(dir);
  } catch (error) {
    issues.error(
      "bad-split",
      `${splitPath}: unusable (${errorMessage(error).replace(`${splitPath}: `, "")})`,
      { file: splitPath },
    );
    return;
  }
  if (split === undefined) return;
  const train = new Set(split.train);
  const test = new Set(split.test);
  report.split = { train: train.size, test: test.size };
  const both = [...train].filter((d) => test.has(d));
  if (both.length > 0)
    issues.error(
      "split-overlap",
      `${splitPath}: ${both.length} samples are in both train and test (e.g. ${both[0]})`,
      { file: splitPath },
    );
  const listed = new Set(samples.map((s) => dirname(s.files[0]!)));
  const unassigned = [...listed].filter((d) => !train.has(d) && !test.has(d));
  if (unassigned.length > 0)
    issues.error(
      "split-missing",
      `${splitPath}: ${unassigned.length} samples of labels.txt are in neither train nor test (e.g. ${unassigned[0]})`,
      { file: splitPath },
    );
  const unknown = [...train, ...test].filter((d) => !listed.has(d));
  if (unknown.length > 0)
    issues.error(
      "split-unknown",
      `${splitPath}: ${unknown.length} samples are not in labels.txt (e.g. ${unknown[0]})`,
      { file: splitPath },
    );
}
