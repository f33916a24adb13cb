/**
 * `buildMixtures`: the seed's 01.py (every unordered combination of class folders, N samples each,
 * `sample_<index>/{mixed,source1,source2}.wav` + labels.txt), made exact, deterministic, split-aware,
 * parallel and resumable. The file layout and labels.txt format are documented in labels.ts.
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { lockFolder } from "../../util/lock.js";
import { Random } from "../../util/random.js";
import { ParameterError, parseSettings } from "../../errors.js";
import { DataError } from "../errors.js";
import {
  MIX_JSON_FORMAT,
  MIX_JSON_NAME,
  MIX_JSON_VERSION,
  type MixManifest,
  readMixJson,
  writeMixJson,
} from "../formats/mix-json.js";
import {
  formatLabelLine,
  LABELS_TXT_NAME,
  readLabelsTxt,
  sampleDirLabel,
  sampleFileNames,
  writeLabelsTxt,
} from "../formats/labels.js";
import { MANIFEST_NAME, readManifest } from "../formats/manifest.js";
import { clipTestSides } from "./clip-split.js";
import { loadClipShared } from "./clips.js";
import { type MixConfig, type MixConfigInput, MixConfigSchema } from "../formats/mix-config.js";
import { SPLIT_JSON_NAME, type SplitFile, writeSplitJson } from "../formats/split-json.js";
import type { MixRenderSettings, MixTask } from "./render.js";
import { writeMixSample } from "./sample.js";
import type { MixWorkerReply, MixWorkerRequest } from "./worker.js";
import { isSampleDirName, listRawData, type RawClass, trainDataMarks } from "../formats/raw-data.js";
import { runWorkerPool, siblingModule } from "../../util/workers.js";

/** Journal of finished samples while a run is in progress (removed when labels.txt is written). */
const JOURNAL_NAME = ".mix-progress";

/** Progress events of {@link buildMixtures}. */
export interface MixProgress {
  /** `load`: decoding source clips; `mix`: writing samples. */
  phase: "load" | "mix";
  /** Units done in this phase (clips or samples), including samples skipped by a resume. */
  done: number;
  total: number;
}

export interface BuildMixturesOptions {
  /** Worker threads (default: CPU cores). 1 = no workers. The output never depends on it. */
  jobs?: number;
  /** Replace a train_data folder made with another configuration (default false: refuse). */
  overwrite?: boolean;
  onProgress?: (event: MixProgress) => void;
  /** Non-fatal notices (e.g. the leaky `random` split). Default: ignored. */
  onWarning?: (message: string) => void;
}

export interface MixResult {
  config: MixConfig;
  classes: string[];
  /** The class combinations in output order (each sorted). */
  combinations: string[][];
  /** Total samples in labels.txt = combinations × samplesPerCombination. */
  samples: number;
  /** Samples rendered by this call. */
  written: number;
  /** Samples found complete from an earlier run and skipped. */
  skipped: number;
  train: number;
  test: number;
  labelsPath: string;
  splitPath: string;
}

/** One source clip of the raw_data library. */
interface ClipRef {
  id: number;
  classIndex: number;
  /** `<class>/<file>`, the manifest's key. */
  key: string;
  path: string;
}

/** All combinations of `k` items of `items`, in itertools.combinations order. */
export function combinations<T>(items: readonly T[], k: number): T[][] {
  const out: T[][] = [];
  const pick: number[] = [];
  const rec = (start: number): void => {
    if (pick.length === k) {
      out.push(pick.map((i) => items[i]!));
      return;
    }
    for (let i = start; i <= items.length - (k - pick.length); i++) {
      pick.push(i);
      rec(i + 1);
      pick.pop();
    }
  };
  rec(0);
  return out;
}

function parseConfig(input: MixConfigInput): MixConfig {
  const { dataDir, outputDir, ...rest } = input;
  const named = {
    ...(dataDir === undefined ? {} : { data: dataDir }),
    ...(outputDir === undefined ? {} : { out: outputDir }),
    ...rest,
  };
  return parseSettings(MixConfigSchema, named, "mix config");
}

/** The split side (false = train, true = test) of every source clip, and held-out soundfonts. */
function assignClipSides(
  config: MixConfig,
  classes: RawClass[],
  library: RawClass[],
  clips: ClipRef[],
  onWarning: (message: string) => void,
): { clipIsTest: boolean[] | undefined; testSoundfonts?: string[] } {
  if (config.testSoundfonts !== undefined && config.splitBy !== "soundfont") {
    throw new ParameterError("testSoundfonts", "`testSoundfonts` needs `splitBy` soundfont");
  }
  if (config.splitBy === "random") {
    onWarning(
      `\`splitBy\` random assigns samples, not clips, to train and test (as the seed did): the same source clips appear on both sides, so test scores will be optimistic. Use \`splitBy\` clip or soundfont for an honest test set.`,
    );
    return { clipIsTest: undefined };
  }
  const clipIsTest = new Array<boolean>(clips.length).fill(false);
  if (config.testFraction === 0) return { clipIsTest };
  if (config.splitBy === "clip") {
    for (let c = 0; c < classes.length; c++) {
      // Ranked among all of the class's clips, so picking `groups` does not move the others' sides.
      const name = classes[c]!.name;
      const keys = library.find((l) => l.name === name)!.files.map((f) => `${name}/${f}`);
      const sides = clipTestSides(keys, config.testFraction, config.seed, {
        folder: join(config.data, name),
        setting: "`splitBy` clip",
      });
      const testKeys = new Set(keys.filter((_, i) => sides[i]));
      for (const clip of clips) if (clip.classIndex === c) clipIsTest[clip.id] = testKeys.has(clip.key);
    }
    return { clipIsTest };
  }
  // soundfont
  const manifestPath = join(config.data, MANIFEST_NAME);
  const entries = readManifest(config.data);
  if (entries === undefined) {
    throw new DataError(
      `${manifestPath}: not found; \`splitBy\` soundfont needs the manifest that \`stemscope synth\` writes (use \`splitBy\` clip for other libraries)`,
    );
  }
  const soundfontOf = new Map(entries.map((e) => [e.file, e.soundfont]));
  const soundfonts = [
    ...new Set(
      clips.map((clip) => {
        const sf = soundfontOf.get(clip.key);
        if (sf === undefined)
          throw new DataError(`${manifestPath}: has no line for ${clip.key}; expected one line per clip`);
        return sf;
      }),
    ),
  ].sort();
  if (soundfonts.length < 2) {
    throw new DataError(
      `${manifestPath}: all clips come from one soundfont (${soundfonts[0] ?? "none"}); \`splitBy\` soundfont needs at least 2 (use \`splitBy\` clip)`,
    );
  }
  let testSoundfonts: string[];
  if (config.testSoundfonts !== undefined) {
    const unknown = config.testSoundfonts.filter((sf) => !soundfonts.includes(sf));
    if (unknown.length > 0) {
      throw new DataError(
        `\`testSoundfonts\`: ${unknown.join(", ")} not in ${manifestPath}; its clips come from ${soundfonts.join(", ")}`,
      );
    }
    testSoundfonts = [...new Set(config.testSoundfonts)].sort();
    if (testSoundfonts.length >= soundfonts.length) {
      throw new DataError(
        `\`testSoundfonts\`: holding out all of ${soundfonts.join(", ")} leaves nothing to train on; name fewer`,
      );
    }
  } else {
    const shuffled = new Random(config.seed).fork("split:soundfonts").shuffle(soundfonts.slice());
    const nTest = Math.min(
      soundfonts.length - 1,
      Math.max(1, Math.round(soundfonts.length * config.testFraction)),
    );
    testSoundfonts = shuffled.slice(0, nTest).sort();
  }
  const held = new Set(testSoundfonts);
  for (const clip of clips) clipIsTest[clip.id] = held.has(soundfontOf.get(clip.key)!);
  return { clipIsTest, testSoundfonts };
}

/**
 * Draws every sample's clips, offsets and gains, and its split side. Pure: depends on the config and
 * the clip list only. Sample `ci · N + i` is the i-th of combination ci; its draws come from
 * `Random(seed).fork("mix:<classes>").fork(i)`.
 */
function planSamples(
  config: MixConfig,
  classes: RawClass[],
  combos: number[][],
  clips: ClipRef[],
  clipIsTest: boolean[] | undefined,
): { tasks: MixTask[]; isTest: boolean[] } {
  const n = config.samplesPerCombination;
  const root = new Random(config.seed);
  const byClass: number[][] = classes.map(() => []);
  for (const clip of clips) byClass[clip.classIndex]!.push(clip.id);
  const pools = (test: boolean): number[][] =>
    byClass.map((ids) => (clipIsTest === undefined ? ids : ids.filter((id) => clipIsTest[id] === test)));
  const trainPools = pools(false);
  const testPools = pools(true);
  const [gLo, gHi] = config.gainDb;
  const tasks: MixTask[] = [];
  const isTest: boolean[] = [];
  const nTest = Math.round(n * config.testFraction);
  for (let ci = 0; ci < combos.length; ci++) {
    const combo = combos[ci]!;
    const comboRng = root.fork(`mix:${combo.map((c) => classes[c]!.name).join(",")}`);
    const order = comboRng.fork("split").shuffle(Array.from({ length: n }, (_, i) => i));
    const testSet = new Set(order.slice(0, nTest));
    for (let i = 0; i < n; i++) {
      const test = testSet.has(i);
      const rng = comboRng.fork(i);
      const clipIds: number[] = [];
      const offsets: number[] = [];
      const gainsDb: number[] = [];
      for (let j = 0; j < combo.length; j++) {
        const c = combo[j]!;
        const pool = (test ? testPools : trainPools)[c]!;
        if (pool.length === 0) {
          throw new DataError(
            `${join(config.data, classes[c]!.name)}: no ${test ? "test" : "train"} clips after the split; add clips or change \`testFraction\` / \`splitBy\``,
          );
        }
        clipIds.push(pool[rng.int(pool.length)]!);
        offsets.push(rng.float());
        gainsDb.push(j === 0 ? 0 : rng.uniform(gLo, gHi));
      }
      tasks.push({ index: ci * n + i, clipIds, offsets, gainsDb });
      isTest.push(test);
    }
  }
  return { tasks, isTest };
}

function fingerprint(config: MixConfig, classes: RawClass[]): string {
  const hash = createHash("sha256");
  for (const cls of classes) {
    for (const file of cls.files) {
      const size = statSync(join(config.data, cls.name, file)).size;
      hash.update(`${cls.name}/${file} ${size}\n`);
    }
  }
  return hash.digest("hex");
}

/** Describes which top-level keys of two JSON-able objects differ. */
function differingKeys(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const value = (o: object, k: string): unknown => (o as Record<string, unknown>)[k];
  return [...keys].filter((k) => JSON.stringify(value(a, k)) !== JSON.stringify(value(b, k)));
}

/** Removes what a mix run writes in `dir` (only those names). */
function clearOutput(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (
      isSampleDirName(name) ||
      [LABELS_TXT_NAME, SPLIT_JSON_NAME, MIX_JSON_NAME, JOURNAL_NAME].includes(name)
    ) {
      rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

/**
 * Indices of samples finished by an earlier run with the same configuration: listed in the journal
 * or in labels.txt, with all their files present.
 */
function completedSamples(config: MixConfig, total: number): Set<number> {
  const listed = new Set<number>();
  const journal = join(config.out, JOURNAL_NAME);
  if (existsSync(journal)) {
    for (const line of readFileSync(journal, "utf8").split("\n")) {
      if (/^\d+$/.test(line)) listed.add(Number(line));
    }
  }
  const labels = join(config.out, LABELS_TXT_NAME);
  if (existsSync(labels)) {
    for (const { text } of readLabelsTxt(labels)) {
      const m = /sample_(\d+)\/mixed\.wav /.exec(text);
      if (m !== null) listed.add(Number(m[1]));
    }
  }
  const names = sampleFileNames(config.sources);
  const done = new Set<number>();
  for (const index of listed) {
    if (index >= total) continue;
    const dir = join(config.out, `sample_${index}`);
    if (names.every((n) => existsSync(join(dir, n)))) done.add(index);
  }
  return done;
}

/**
 * The samples of `config.out` that an earlier run of the same configuration finished (none for a
 * new folder).
 * @throws DataError when the folder holds mixtures of another configuration, or ones without mix.json
 */
function claimOutput(config: MixConfig, manifest: MixManifest, total: number): Set<number> {
  let previous: MixManifest | undefined;
  try {
    previous = readMixJson(config.out);
  } catch (error) {
    throw new DataError(`${(error as Error).message}; use \`overwrite\` to replace this folder's mixtures`, {
      cause: error,
    });
  }
  if (previous !== undefined) {
    const diff = [
      ...differingKeys(previous.config, config).map((k) => `config.${k}`),
      ...differingKeys({ ...previous, config: undefined }, { ...manifest, config: undefined }),
    ];
    if (diff.length > 0) {
      throw new DataError(
        `${config.out}: already holds mixtures made with a different configuration (differs in: ${diff.join(", ")}); use \`overwrite\` to replace them, or choose another \`out\``,
      );
    }
    return completedSamples(config, total);
  }
  if (existsSync(config.out)) {
    const foreign = readdirSync(config.out).filter((n) => isSampleDirName(n) || n === "labels.txt");
    if (foreign.length > 0) {
      throw new DataError(
        `${config.out}: already holds mixtures (${foreign.includes("labels.txt") ? "labels.txt, " : ""}sample_* folders) without a mix.json, so they were not made by this configuration; use \`overwrite\` to replace them, or choose another \`out\``,
      );
    }
  }
  return new Set();
}

/** Everything decided before any audio is read (see {@link planMixtures}). */
interface PreparedMix {
  classes: RawClass[];
  clips: ClipRef[];
  combos: number[][];
  total: number;
  tasks: MixTask[];
  isTest: boolean[];
  testSoundfonts: string[] | undefined;
}

/**
 * A train_data folder (labels.txt, mix.json, sample_* folders) given as the raw_data library: its
 * sample folders would become classes.
 * @throws DataError saying what the folder is and what `data` expects
 */
function refuseTrainData(dir: string): void {
  const marks = trainDataMarks(dir);
  if (marks.length === 0) return;
  const found = marks.join(", ");
  throw new DataError(
    `${dir}: is a train_data folder (${found}), made by \`stemscope mix\`, not a raw_data library; \`data\` needs a raw_data folder with one sub-folder of .wav clips per class (train_data is what \`stemscope train\` takes)`,
  );
}

/**
 * The classes with only the clips of `config.groups` (all of them when unset); classes left without
 * clips are dropped, with a warning.
 * @throws DataError without a manifest, or for a group the manifest does not have
 */
function onlyGroups(
  classes: RawClass[],
  config: MixConfig,
  onWarning: (message: string) => void,
): RawClass[] {
  if (config.groups === undefined) return classes;
  const manifestPath = join(config.data, MANIFEST_NAME);
  const entries = readManifest(config.data);
  if (entries === undefined) {
    throw new DataError(
      `${manifestPath}: not found; \`groups\` needs the manifest that \`stemscope synth\` writes`,
    );
  }
  const groupOf = new Map(entries.map((e) => [e.file, e.group ?? e.soundfont]));
  const known = new Set(groupOf.values());
  const unknown = config.groups.filter((g) => !known.has(g));
  if (unknown.length > 0) {
    throw new DataError(
      `\`groups\`: ${unknown.join(", ")} not in ${manifestPath}; its groups are ${[...known].sort().join(", ")}`,
    );
  }
  const wanted = new Set(config.groups);
  const kept = classes.map((cls) => ({
    name: cls.name,
    files: cls.files.filter((f) => wanted.has(groupOf.get(`${cls.name}/${f}`) ?? "")),
  }));
  const dropped = kept.filter((c) => c.files.length === 0).map((c) => c.name);
  if (dropped.length > 0)
    onWarning(
      `\`groups\` ${config.groups.join(", ")}: no clips of ${dropped.join(", ")}; mixing the other classes`,
    );
  return kept.filter((c) => c.files.length > 0);
}

function prepareMix(config: MixConfig, onWarning: (message: string) => void): PreparedMix {
  if (/\s/.test(config.out)) {
    throw new DataError(
      `\`out\` "${config.out}" contains whitespace; labels.txt separates fields by spaces, so choose a folder path without spaces`,
    );
  }
  refuseTrainData(config.data);
  const library = listRawData(config.data);
  const classes = onlyGroups(library, config, onWarning);
  for (const cls of classes) {
    if (/\s/.test(cls.name))
      throw new DataError(
        `${join(config.data, cls.name)}: class folder names become labels in labels.txt and cannot contain whitespace`,
      );
    if (cls.files.length === 0)
      throw new DataError(
        `${join(config.data, cls.name)}: no .wav files; every class folder needs at least one clip (remove the folder or add clips)`,
      );
    for (const f of cls.files) {
      if (/\s/.test(f))
        throw new DataError(
          `${join(config.data, cls.name, f)}: file names cannot contain whitespace (labels.txt is space-separated); rename it`,
        );
    }
  }
  if (classes.length < config.sources) {
    throw new DataError(
      `${config.data}: found ${classes.length} class folder(s) (${classes.map((c) => c.name).join(", ") || "none"}); mixing ${config.sources} sources needs at least ${config.sources}`,
    );
  }
  const clips: ClipRef[] = [];
  classes.forEach((cls, classIndex) => {
    for (const file of cls.files) {
      clips.push({
        id: clips.length,
        classIndex,
        key: `${cls.name}/${file}`,
        path: join(config.data, cls.name, file),
      });
    }
  });
  const combos = combinations(
    classes.map((_, i) => i),
    config.sources,
  );
  const total = combos.length * config.samplesPerCombination;
  const { clipIsTest, testSoundfonts } = assignClipSides(config, classes, library, clips, onWarning);
  const { tasks, isTest } = planSamples(config, classes, combos, clips, clipIsTest);

  return { classes, clips, combos, total, tasks, isTest, testSoundfonts };
}

/** One planned sample: which clips, where in them, at what gains, and its split side. */
export interface PlannedSample {
  index: number;
  /** Sample folder as written in labels.txt. */
  dir: string;
  labels: string[];
  /** Source clips as `<class>/<file>` (relative to the raw_data folder), one per label. */
  clips: string[];
  /** u ∈ [0, 1) per source choosing the crop start, see render.ts. */
  offsets: number[];
  gainsDb: number[];
  test: boolean;
}

/**
 * The plan of {@link buildMixtures} without writing anything: every sample's clips, offsets, gains
 * and split side. Reads only the folder listing (and manifest.jsonl for `splitBy: "soundfont"`).
 */
export function planMixtures(
  input: MixConfigInput = {},
  options: { onWarning?: (message: string) => void } = {},
): PlannedSample[] {
  const config = parseConfig(input);
  const { classes, clips, combos, tasks, isTest } = prepareMix(
    config,
    options.onWarning ?? (() => undefined),
  );
  return tasks.map((t, i) => ({
    index: t.index,
    dir: sampleDirLabel(config.out, t.index),
    labels: combos[Math.floor(t.index / config.samplesPerCombination)]!.map((c) => classes[c]!.name),
    clips: t.clipIds.map((id) => clips[id]!.key),
    offsets: t.offsets,
    gainsDb: t.gainsDb,
    test: isTest[i]!,
  }));
}

/**
 * Builds a train_data folder from a raw_data library (see labels.ts for the layout and README "Data"
 * for what differs from the seed). Deterministic: the same config and clips give the same bytes,
 * whatever `jobs` is. Resumable: re-running the same config into the same folder skips finished
 * samples; a different config is refused unless `overwrite`.
 *
 * @throws DataError for a missing/empty raw_data folder, too few classes, names with whitespace, a
 *   folder made by another configuration, a split that cannot be made; AudioError for unreadable clips
 */
export async function buildMixtures(
  input: MixConfigInput = {},
  options: BuildMixturesOptions = {},
): Promise<MixResult> {
  const config = parseConfig(input);
  const onWarning = options.onWarning ?? (() => undefined);
  const jobs = Math.max(1, Math.floor(options.jobs ?? availableParallelism()));

  const prepared = prepareMix(config, onWarning);
  const { classes, combos, total } = prepared;

  // The output folder: refuse another configuration's work, resume our own.
  const manifest: MixManifest = {
    format: MIX_JSON_FORMAT,
    version: MIX_JSON_VERSION,
    config,
    classes: classes.map((c) => c.name),
    combinations: combos.length,
    samples: total,
    sourceFingerprint: fingerprint(config, classes),
  };
  // The folder is locked for the whole run, so a second run into it fails at once.
  const lock = lockFolder(config.out, "mix", onWarning);
  try {
    return await mixInto(config, prepared, manifest, { ...options, jobs });
  } finally {
    lock.release();
  }
}

/** {@link buildMixtures} once `config.out` is locked: claims the folder, mixes, writes the lists. */
async function mixInto(
  config: MixConfig,
  prepared: PreparedMix,
  manifest: MixManifest,
  options: BuildMixturesOptions & { jobs: number },
): Promise<MixResult> {
  const { classes, clips, combos, total, tasks, isTest, testSoundfonts } = prepared;
  const { jobs } = options;
  const onProgress = options.onProgress ?? (() => undefined);
  if (options.overwrite === true) clearOutput(config.out);
  const done = claimOutput(config, manifest, total);
  await writeMixJson(config.out, manifest);

  const pending = tasks.filter((t) => !done.has(t.index));
  const settings: MixRenderSettings = {
    length: Math.round(config.seconds * config.sampleRate),
    balance: config.balance,
    offset: config.offset,
    normalize: config.normalize,
    peak: config.peak,
  };
  const journalPath = join(config.out, JOURNAL_NAME);
  let journalBuffer: number[] = [];
  let lastFlush = Date.now();
  const flushJournal = (): void => {
    if (journalBuffer.length === 0) return;
    appendFileSync(journalPath, `${journalBuffer.join("\n")}\n`);
    journalBuffer = [];
    lastFlush = Date.now();
  };
  let mixedCount = done.size;
  const finished = (indices: number[]): void => {
    journalBuffer.push(...indices);
    mixedCount += indices.length;
    if (journalBuffer.length >= 256 || Date.now() - lastFlush > 1000) flushJournal();
    onProgress({ phase: "mix", done: mixedCount, total });
  };

  if (pending.length > 0) {
    const usedIds = [...new Set(pending.flatMap((t) => t.clipIds))].sort((a, b) => a - b);
    const workers = Math.min(jobs, Math.max(1, Math.ceil(pending.length / 64)));
    try {
      if (workers <= 1) {
        await mixInProcess(config, clips, usedIds, pending, settings, onProgress, finished);
      } else {
        await mixWithWorkers(config, clips, usedIds, pending, settings, workers, onProgress, finished);
      }
    } finally {
      flushJournal();
    }
  }
  onProgress({ phase: "mix", done: total, total });

  // labels.txt and split.json, atomically; then the journal is no longer needed.
  const labelLines = tasks.map((t) =>
    formatLabelLine(
      config.out,
      t.index,
      combos[Math.floor(t.index / config.samplesPerCombination)]!.map((c) => classes[c]!.name),
    ),
  );
  const labelsPath = await writeLabelsTxt(config.out, labelLines);
  const split: SplitFile = {
    version: 1,
    splitBy: config.splitBy,
    testFraction: config.testFraction,
    seed: config.seed,
    ...(testSoundfonts !== undefined ? { testSoundfonts } : {}),
    train: tasks.filter((_, i) => !isTest[i]).map((t) => sampleDirLabel(config.out, t.index)),
    test: tasks.filter((_, i) => isTest[i]).map((t) => sampleDirLabel(config.out, t.index)),
  };
  const splitPath = await writeSplitJson(config.out, split);
  rmSync(journalPath, { force: true });

  return {
    config,
    classes: classes.map((c) => c.name),
    combinations: combos.map((combo) => combo.map((c) => classes[c]!.name)),
    samples: total,
    written: pending.length,
    skipped: total - pending.length,
    train: split.train.length,
    test: split.test.length,
    labelsPath,
    splitPath,
  };
}

async function mixInProcess(
  config: MixConfig,
  clips: ClipRef[],
  usedIds: number[],
  pending: MixTask[],
  settings: MixRenderSettings,
  onProgress: (event: MixProgress) => void,
  finished: (indices: number[]) => void,
): Promise<void> {
  const table: Float32Array[] = new Array<Float32Array>(clips.length).fill(new Float32Array(0));
  for (let i = 0; i < usedIds.length; i++) {
    const id = usedIds[i]!;
    table[id] = new Float32Array(await loadClipShared(clips[id]!.path, config.sampleRate));
    if (i % 64 === 63) onProgress({ phase: "load", done: i + 1, total: usedIds.length });
  }
  onProgress({ phase: "load", done: usedIds.length, total: usedIds.length });
  let batch: number[] = [];
  for (const task of pending) {
    writeMixSample(config.out, table, task, settings, config.sampleRate);
    batch.push(task.index);
    if (batch.length === 16) {
      finished(batch);
      batch = [];
      await new Promise<void>((resolve) => setImmediate(resolve)); // let progress output flush
    }
  }
  if (batch.length > 0) finished(batch);
}

async function mixWithWorkers(
  config: MixConfig,
  clips: ClipRef[],
  usedIds: number[],
  pending: MixTask[],
  settings: MixRenderSettings,
  count: number,
  onProgress: (event: MixProgress) => void,
  finished: (indices: number[]) => void,
): Promise<void> {
  const buffers: (SharedArrayBuffer | null)[] = new Array<SharedArrayBuffer | null>(clips.length).fill(null);
  let loaded = 0;
  let loadedWorkers = 0;
  await runWorkerPool<MixTask, MixWorkerRequest, MixWorkerReply>({
    module: siblingModule(import.meta.url, "worker"),
    workers: count,
    name: "mix worker",
    crashError: DataError,
    jobs: pending,
    chunkSize: 32,
    request: (tasks) => ({
      type: "tasks",
      tasks,
      outputDir: config.out,
      settings,
      sampleRate: config.sampleRate,
    }),
    // Loading: worker w decodes every count-th used clip into shared memory.
    start: (pool) => {
      for (let w = 0; w < pool.size; w++) {
        const share = usedIds
          .filter((_, i) => i % pool.size === w)
          .map((id) => ({ id, path: clips[id]!.path }));
        pool.send(w, { type: "load", clips: share, sampleRate: config.sampleRate });
      }
    },
    onReply: (reply, _w, pool) => {
      if (reply.type === "loaded") {
        reply.ids.forEach((id, k) => {
          buffers[id] = reply.buffers[k]!;
        });
        loaded += reply.ids.length;
        loadedWorkers++;
        onProgress({ phase: "load", done: loaded, total: usedIds.length });
        // Every clip is loaded: each worker gets them all, then two chunks of samples to render.
        if (loadedWorkers === pool.size) {
          for (let v = 0; v < pool.size; v++) {
            pool.send(v, { type: "clips", buffers });
            pool.feed(v, 2);
          }
        }
        return false;
      }
      if (reply.type !== "done") return false;
      finished(reply.indices);
      return true;
    },
  });
}
