/**
 * Starting a training run: the config (fresh, or a checkpoint's for a resumed run), the data and its
 * split, the feature cache and its loader thread, the model, optimizer and scheduler (restored from
 * the checkpoint when resuming), and the model folder's config.json for a fresh run.
 */
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, rmSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  Adam,
  AdamW,
  cpuHasNativeBf16,
  cudaAvailable,
  manualSeed,
  ReduceLROnPlateau,
  setNumThreads,
} from "../engine/index.js";
import { ParameterError, parseSettings } from "../errors.js";
import { BatchLoader, buildFeatureCache } from "../data/dataset/cache.js";
import { readTrainData, splitTrainData } from "../data/dataset/dataset.js";
import { listRawData } from "../data/formats/raw-data.js";
import { isClipLibrary, loadClipPool } from "../data/mix/remix.js";
import { type FeatureConfig, FeatureConfigSchema } from "../features/config.js";
import { type Checkpoint, disposeCheckpoint, readCheckpoint } from "../model/checkpoint.js";
import {
  type EpochRecord,
  holdsTrainingRun,
  MODEL_FILES,
  MODEL_FORMAT_VERSION,
  type ModelFolderConfig,
  readModelConfig,
  type TrainingRecord,
  writeModelConfig,
} from "../model/folder.js";
import { JointModel, type JointModelConfig } from "../model/joint.js";
import { PrecisionTrial, unmeasuredPrecision } from "../model/precision.js";
import { presetConfig } from "../model/presets.js";
import { TrainConfigSchema, type TrainConfig, type TrainConfigInput } from "./config.js";
import type { DataParallel } from "./distributed.js";
import { TrainError } from "./errors.js";
import { type DataFeed, DatasetFeed, RemixFeed } from "./feed.js";

/**
 * What {@link train} takes: a full config input, or `{ out, resume: true }` plus the settings a
 * resumed run may change (epochs, earlyStop, threads, maxSteps, cacheDir, cacheJobs, clipStorage); any other
 * setting must equal the run's (`data` may name the run's data moved elsewhere).
 */
export type TrainInput = TrainConfigInput | (Partial<TrainConfigInput> & { out: string; resume: true });

/**
 * Fields a resumed run may change (applied, and recorded in its checkpoint and config.json); any
 * other setting given must equal the run's, or the resume is refused naming it.
 */
const RESUMABLE_OVERRIDES = [
  "epochs",
  "earlyStop",
  "threads",
  "maxSteps",
  "cacheDir",
  "cacheJobs",
  "clipStorage",
] as const;

/** Settings that say how to run, not what the run is: never compared with the run's. */
const RUN_CONTROLS = new Set<string>(["out", "resume", "worldSize", "data", ...RESUMABLE_OVERRIDES]);

/** The run's files other than config.json, removed when a run that saved no checkpoint starts over. */
const RUN_LEFTOVERS = [
  MODEL_FILES.weights,
  MODEL_FILES.last,
  MODEL_FILES.checkpointSummary,
  MODEL_FILES.trainLog,
  MODEL_FILES.metrics,
] as const;

/** Where a run starts from: its config, and for a resumed run the model folder and checkpoint. */
export interface RunStart {
  config: TrainConfig;
  folder: ModelFolderConfig | null;
  /** The caller disposes its tensors (the run copies them into the model and optimizer). */
  checkpoint: Checkpoint | null;
  /** What resuming changed or decided, said when the run starts (e.g. "`epochs` 2 → 4"). */
  notes?: string[];
}

/** The progress of a run, saved in every checkpoint. */
export interface RunState {
  /** Finished epochs. */
  epoch: number;
  globalStep: number;
  bestEpoch: number;
  bestValAcc: number;
  /** Epochs since the best one (early stopping). */
  sinceBest: number;
  history: EpochRecord[];
}

/** Everything a run works with, from {@link setupRun} until {@link closeRun}. */
export interface Run {
  /**
   * The settings in effect: `bf16` "auto" resolved to what was measured faster here (float32 while
   * `precisionTrial` measures).
   */
  config: TrainConfig & { bf16: boolean };
  /** `bf16` auto's trial on the run's first training steps, until {@link settlePrecision}. */
  precisionTrial: PrecisionTrial | null;
  out: string;
  /** The batches: a train_data folder's cached features, or mixtures drawn from a clip library. */
  feed: DataFeed;
  features: FeatureConfig;
  model: JointModel;
  optimizer: Adam;
  scheduler: ReduceLROnPlateau;
  state: RunState;
  warn: (message: string) => void;
  /** The other ranks of a data-parallel run (see distributed.ts); null when one process trains. */
  parallel: DataParallel | null;
}

/** A checkpoint's config in today's names (runs of stemscope 0.1 saved `featureMode`). */
function checkpointConfig(saved: Record<string, unknown>): Record<string, unknown> {
  const { featureMode, ...rest } = saved;
  return featureMode === undefined ? rest : { features: featureMode, ...rest };
}

/** A value as messages show it. */
function shown(value: unknown): string {
  return value === undefined ? "unset" : typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The settings of a resume `input` applied to the run's `saved` ones: the resumable ones, and `data`
 * when the run's data folder is gone (moved). Any other setting that differs is refused, each named.
 * @throws TrainError naming every setting that differs from the run's
 */
function resumedSettings(
  input: Partial<TrainConfigInput>,
  saved: Record<string, unknown>,
  out: string,
  notes: string[],
): Record<string, unknown> {
  const settings: Record<string, unknown> = { ...saved };
  const differs: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || RUN_CONTROLS.has(key)) continue;
    // `bf16` auto asks for the choice measured when the run started: the run's.
    if (key === "bf16" && value === "auto") continue;
    if (JSON.stringify(value) !== JSON.stringify(saved[key]))
      differs.push(`\`${key}\` ${shown(value)} (the run's: ${shown(saved[key])})`);
  }
  if (
    input.data !== undefined &&
    typeof saved.data === "string" &&
    resolve(input.data) !== resolve(saved.data)
  ) {
    if (existsSync(saved.data)) differs.push(`\`data\` ${input.data} (the run's: ${saved.data})`);
    else notes.push(`\`data\`: the run's ${saved.data} is gone; using ${input.data}`);
  }
  if (input.data !== undefined) settings.data = input.data;
  if (differs.length > 0) {
    throw new TrainError(
      `${out}: resuming continues the run with its own settings, and these differ: ${differs.join(", ")}; leave them out to resume, or train a new run into another \`out\``,
    );
  }
  for (const key of RESUMABLE_OVERRIDES) {
    if (input[key] === undefined) continue;
    if (JSON.stringify(input[key]) !== JSON.stringify(saved[key]))
      notes.push(`\`${key}\` ${shown(saved[key])} → ${shown(input[key])}`);
    settings[key] = input[key];
  }
  return settings;
}

/** A run's settings as config.json's training record gives them (a run that saved no checkpoint). */
function recordedSettings(folder: ModelFolderConfig): Record<string, unknown> {
  const t = folder.training;
  if (t === undefined) return {};
  const { split, remix, ...rest } = t;
  return {
    ...rest,
    features: folder.features.mode,
    split: split.mode,
    ...(split.testFraction === undefined ? {} : { testFraction: split.testFraction }),
    ...(remix === undefined
      ? {}
      : {
          sources: remix.sources,
          mixtures: remix.mixtures,
          valMixtures: remix.valMixtures,
          gainDb: remix.gainDb,
          holdOut: remix.holdOut,
        }),
  };
}

/**
 * A run killed in its first epoch left config.json but no checkpoint: it starts over with the
 * settings config.json records (and `data`, which it does not), its other files removed.
 */
function startOver(input: Partial<TrainConfigInput>, out: string): RunStart {
  const folder = readModelConfig(out);
  const notes = [
    `${out}: the run stopped before its first checkpoint (config.json but no ${MODEL_FILES.checkpoint}): starting it over`,
  ];
  const settings = resumedSettings(input, recordedSettings(folder), out, notes);
  if (settings.data === undefined) {
    throw new ParameterError(
      "data",
      `${out}: the run stopped before its first checkpoint, so it starts over, and config.json does not record its data; give \`data\` (the train_data folder)`,
    );
  }
  // Starting over is a fresh run: any number of ranks may take it.
  const worldSize = input.worldSize ?? 1;
  const config = parseSettings(
    TrainConfigSchema,
    { ...settings, worldSize, resume: false, out },
    "training config",
  );
  for (const name of RUN_LEFTOVERS) rmSync(join(out, name), { force: true });
  return { config, folder, checkpoint: null, notes };
}

/**
 * The run's config: a fresh one from `input`, or a resumed run's from its checkpoint with the
 * resumable settings of `input` applied. A run that stopped before its first checkpoint starts over.
 * @throws ParameterError for an invalid setting; TrainError when `out` holds another run (fresh),
 *   nothing to resume, a setting that differs from the run's, or a run of another `worldSize`
 */
export function openRun(input: TrainInput): RunStart {
  if (input.resume !== true) {
    const config = parseSettings(TrainConfigSchema, input, "training config");
    if (holdsTrainingRun(config.out)) {
      const started = existsSync(join(config.out, MODEL_FILES.checkpoint));
      throw new TrainError(
        started
          ? `${config.out}: already holds a training run; use \`resume\` to continue it, or choose another \`out\``
          : `${config.out}: holds a run that stopped before its first checkpoint (config.json but no ${MODEL_FILES.checkpoint}); use \`resume\` to start it over with its settings, or choose another \`out\``,
      );
    }
    return { config, folder: null, checkpoint: null };
  }
  const out = input.out;
  if (typeof out !== "string" || out === "")
    throw new ParameterError("out", "`out` is required to resume: the folder of the run");
  const checkpoint = readCheckpoint(out);
  if (checkpoint === null) {
    if (existsSync(join(out, MODEL_FILES.config))) return startOver(input, out);
    throw new TrainError(
      `${join(out, MODEL_FILES.checkpoint)}: not found; there is no run to resume in ${out}`,
    );
  }
  try {
    const folder = readModelConfig(out);
    const notes: string[] = [];
    const config = parseSettings(
      TrainConfigSchema,
      { ...resumedSettings(input, checkpointConfig(checkpoint.state.config), out, notes), resume: true, out },
      "training config",
    );
    // Another number of ranks would give each step other samples: not the run it was.
    const worldSize = input.worldSize ?? 1;
    if (config.worldSize !== worldSize) {
      throw new TrainError(
        `${out} was trained with \`worldSize\` ${config.worldSize}; resume it with that many ranks, not ${worldSize}`,
      );
    }
    return { config, folder, checkpoint, notes };
  } catch (error) {
    disposeCheckpoint(checkpoint);
    throw error;
  }
}

/** What a run's data is, read before anything heavy: its classes, sources and feature settings. */
interface PreparedData {
  classes: string[];
  sources: number;
  features: FeatureConfig;
  /** Builds the feed: the feature cache of a train_data folder, or a clip library loaded into memory. */
  openFeed(onProgress: (done: number, total: number) => void): Promise<DataFeed>;
}

/**
 * The data of a run — a train_data folder, or a raw_data clip library to draw mixtures from — its
 * split and the feature settings; warns about leaky splits and emulated bf16.
 */
function prepareData(
  config: TrainConfig,
  folder: ModelFolderConfig | null,
  warn: (message: string) => void,
): PreparedData {
  if (config.bf16 === true && !cudaAvailable() && cpuHasNativeBf16() === false) {
    warn(
      "`bf16`: this CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag), so bf16 is emulated and training runs many times slower than float32 (1.2 vs 14.9 samples/s measured on an AVX2-only CPU); train without `bf16` here",
    );
  }
  if (!existsSync(join(config.data, "labels.txt")) && isClipLibrary(config.data)) {
    return prepareClipLibrary(config, folder);
  }
  const data = readTrainData(config.data, folder === null ? {} : { classes: folder.classes });
  const split = splitTrainData(data, config.split, { seed: config.seed, testFraction: config.testFraction });
  if (split.source === "random") {
    warn(
      "`split` random: samples are split at random as the seed did, so the same source clips appear in train and test; test accuracy will be optimistic",
    );
  } else if (split.source === "seeded") {
    warn(
      `${join(data.dir, "split.json")} not found: using a seeded per-sample ${Math.round((1 - config.testFraction) * 10)}:${Math.round(config.testFraction * 10)} split`,
    );
  }
  if (config.batchSize > split.train.length) {
    throw new ParameterError(
      "batchSize",
      `\`batchSize\` ${config.batchSize} is larger than the ${split.train.length} training samples of ${data.dir}; use \`batchSize\` ${split.train.length} or less, or add data`,
    );
  }
  const features =
    folder?.features ??
    FeatureConfigSchema.parse({ mode: config.features, ...(data.audio === null ? {} : data.audio) });
  return {
    classes: data.classes,
    sources: data.sources,
    features,
    openFeed: async (onProgress) => {
      // The loader thread starts now, so it has booted by the first batch.
      const loader = new BatchLoader({ planes: 1 + data.sources, rows: features.nMels, cols: features.size });
      try {
        onProgress(0, data.samples.length);
        const store = await buildFeatureCache(data.samples, features, {
          cacheDir: config.cacheDir ?? defaultCacheDir(data.dir, warn),
          ...(config.cacheJobs === undefined ? {} : { jobs: config.cacheJobs }),
          onProgress,
        });
        return new DatasetFeed(data, split, store, loader, config.seed);
      } catch (error) {
        await loader.close();
        throw error;
      }
    },
  };
}

/** A raw_data clip library: mixtures drawn afresh every step (see feed.ts). */
function prepareClipLibrary(config: TrainConfig, folder: ModelFolderConfig | null): PreparedData {
  const features = folder?.features ?? FeatureConfigSchema.parse({ mode: config.features });
  const classes =
    folder?.classes ?? listRawData(config.data).flatMap((c) => (c.files.length > 0 ? [c.name] : []));
  if (config.sources > classes.length) {
    throw new ParameterError(
      "sources",
      `\`sources\` ${config.sources}: ${config.data} has ${classes.length} classes, and every mixture takes distinct ones`,
    );
  }
  return {
    classes,
    sources: config.sources,
    features,
    openFeed: async (onProgress) => {
      const pool = await loadClipPool(config.data, {
        sampleRate: features.sampleRate,
        holdOut: config.holdOut,
        storage: config.clipStorage,
        ...(folder === null ? {} : { classes: folder.classes }),
        onProgress,
      });
      return new RemixFeed(pool, features, {
        sources: config.sources,
        mixtures: config.mixtures,
        valMixtures: config.valMixtures,
        gainDb: config.gainDb,
        testFraction: config.testFraction,
        seed: config.seed,
        ...(config.cacheJobs === undefined ? {} : { threads: config.cacheJobs }),
      });
    },
  };
}

/**
 * `bf16` as a boolean, and for "auto" in a single-process run on a CPU with native bf16 the trial
 * that times the run's first training steps in both (its steps alternate; `bf16` reads false until
 * {@link settlePrecision} decides). Elsewhere "auto" is float32, said why; several ranks must
 * agree, so they keep float32. (A resumed run's `bf16` is the boolean its checkpoint recorded.)
 */
function resolvePrecision(
  config: TrainConfig,
  parallel: DataParallel | null,
  warn: (message: string) => void,
): { bf16: boolean; trial: PrecisionTrial | null } {
  if (config.bf16 !== "auto") return { bf16: config.bf16, trial: null };
  if (parallel !== null) {
    warn("`bf16` auto with several ranks: float32 (every rank must use the same; set `bf16` to choose)");
    return { bf16: false, trial: null };
  }
  const unmeasured = unmeasuredPrecision();
  if (unmeasured !== null) {
    warn(`\`bf16\` auto: float32 — ${unmeasured.reason}`);
    return { bf16: false, trial: null };
  }
  return { bf16: false, trial: new PrecisionTrial(config.batchSize) };
}

/**
 * Ends a run's precision trial: trains on in what it measured faster, says so, and records the
 * choice in config.json (which said "auto" until now) and so in every checkpoint from here on.
 */
export async function settlePrecision(run: Run): Promise<void> {
  const trial = run.precisionTrial;
  if (trial === null) return;
  const choice = trial.choice();
  run.precisionTrial = null;
  run.config = { ...run.config, bf16: choice.bf16 };
  run.warn(`\`bf16\` auto: ${choice.bf16 ? "bf16" : "float32"} — ${choice.reason}`);
  const folder = readModelConfig(run.out);
  if (folder.training !== undefined)
    await writeModelConfig(run.out, { ...folder, training: { ...folder.training, bf16: choice.bf16 } });
}

/**
 * The preset's model config with the `unetOutput`, `unetSkips`, `unetChannels`, `resnetWidth`,
 * `resnetDropout` and `classifierInput` overrides applied; a `ratio` U-Net takes the features' `topDb` (it writes native feature values).
 * @throws ParameterError for `unetOutput` ratio with seed features (min-max normalised per clip, so
 *   not relative to the mixture's power)
 */
function modelConfigOf(
  config: TrainConfig,
  data: { classes: readonly string[]; sources: number },
  features: FeatureConfig,
): JointModelConfig {
  const model = presetConfig(config.preset, data.classes.length, data.sources);
  if (config.separationLoss === "shares" && features.mode !== "native") {
    throw new ParameterError(
      "separationLoss",
      "`separationLoss` shares needs `features` native: shares are computed from power relative to the mixture, and seed features are min-max normalised per clip",
    );
  }
  if (config.augmentReferences && config.referenceWeight <= 0) {
    throw new ParameterError(
      "augmentReferences",
      "`augmentReferences` augments what the classifier's reference term sees: it needs `referenceWeight` > 0",
    );
  }
  if (config.unetOutput === "ratio" && features.mode !== "native") {
    throw new ParameterError(
      "unetOutput",
      "`unetOutput` ratio needs `features` native: ratio masks act on the mixture's mel power, and seed features are min-max normalised per clip, not relative to the mixture's power",
    );
  }
  return {
    ...model,
    unet: {
      ...model.unet,
      ...(config.unetOutput === undefined ? {} : { output: config.unetOutput }),
      ...(config.unetOutput === "ratio" ? { topDb: features.topDb } : {}),
      ...(config.unetSkips === undefined ? {} : { skips: config.unetSkips }),
      ...(config.unetChannels === undefined ? {} : { baseChannels: config.unetChannels }),
    },
    resnet: {
      ...model.resnet,
      ...(config.resnetWidth === undefined ? {} : { width: config.resnetWidth }),
      ...(config.resnetDropout === undefined ? {} : { dropout: config.resnetDropout }),
    },
    ...(config.classifierInput === undefined ? {} : { classifierInput: config.classifierInput }),
  };
}

/** What config.json records of a run's training: the settings in effect, no paths. */
function trainingRecord(config: Run["config"], feed: DataFeed): TrainingRecord {
  return {
    preset: config.preset,
    batchSize: config.batchSize,
    epochs: config.epochs,
    lr: config.lr,
    weightDecay: config.weightDecay,
    ...(config.optimizer === "adam" ? {} : { optimizer: config.optimizer }),
    schedule: config.schedule,
    ...(config.schedule === "cosine"
      ? { warmup: config.warmup }
      : { plateauPatience: config.plateauPatience, plateauFactor: config.plateauFactor }),
    lossWeight: config.lossWeight,
    referenceWeight: config.referenceWeight,
    ...(config.labelSmoothing === 0 ? {} : { labelSmoothing: config.labelSmoothing }),
    ...(config.separationLoss === "mse" ? {} : { separationLoss: config.separationLoss }),
    pit: config.pit,
    augment: config.augment,
    ...(config.augmentReferences ? { augmentReferences: true } : {}),
    bf16: config.bf16,
    seed: config.seed,
    ...(config.earlyStop === undefined ? {} : { earlyStop: config.earlyStop }),
    worldSize: config.worldSize,
    split: {
      mode: config.split,
      source: feed.split,
      ...(feed.split === "split.json" ? {} : { testFraction: config.testFraction }),
      train: feed.trainSamples,
      test: feed.testSamples,
    },
    ...(feed instanceof RemixFeed
      ? {
          remix: {
            sources: config.sources,
            mixtures: config.mixtures,
            valMixtures: config.valMixtures,
            gainDb: [config.gainDb[0], config.gainDb[1]],
            holdOut: feed.pool.heldOut,
            trainClips: feed.trainClips,
            testClips: feed.testClips,
          },
        }
      : {}),
  };
}

/**
 * The default feature cache: `<data>/.stemscope-cache`, or, when the data folder is not writable (a
 * read-only dataset), a folder of the data's path under the user's cache ($XDG_CACHE_HOME or
 * ~/.cache, `stemscope/<hash>`), said with `warn`.
 */
export function defaultCacheDir(dataDir: string, warn: (message: string) => void): string {
  const beside = join(dataDir, ".stemscope-cache");
  try {
    mkdirSync(beside, { recursive: true });
    accessSync(beside, constants.W_OK);
    return beside;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM" && code !== "EROFS") throw error;
    const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
    const key = createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 16);
    const dir = join(base, "stemscope", key);
    warn(
      `${dataDir}: not writable (${code}), so the feature cache is ${dir} instead of ${beside} (set \`cacheDir\` to choose)`,
    );
    return dir;
  }
}

/**
 * Sets a run up: data, features, model, optimizer and scheduler — restored from the checkpoint
 * when resuming (its tensors are copied and may be freed afterwards), else config.json is written
 * (by rank 0 only, in a data-parallel run).
 * @throws DataError for unusable data; ParameterError for a batch larger than the training set
 */
export async function setupRun(
  start: RunStart,
  onCacheProgress: (done: number, total: number) => void,
  warn: (message: string) => void,
  parallel: DataParallel | null = null,
): Promise<Run> {
  const { config, folder, checkpoint } = start;
  for (const note of start.notes ?? []) warn(note);
  setNumThreads(config.threads ?? availableParallelism());
  const data = prepareData(config, folder, warn);
  const features = data.features;
  // Before the feature cache is built, so a bad override fails at once.
  const modelConfig = folder?.model ?? modelConfigOf(config, data, features);
  const feed = await data.openFeed(onCacheProgress);
  const { bf16, trial } = resolvePrecision(config, parallel, warn);
  manualSeed(config.seed);
  const model = new JointModel(modelConfig).toChannelsLast();
  const Optimizer = config.optimizer === "adamw" ? AdamW : Adam;
  const optimizer = new Optimizer(model.parameters(), { lr: config.lr, weightDecay: config.weightDecay });
  const scheduler = new ReduceLROnPlateau(optimizer, {
    mode: "min",
    patience: config.plateauPatience,
    factor: config.plateauFactor,
  });
  const run: Run = {
    config: { ...config, bf16 },
    precisionTrial: trial,
    out: config.out,
    feed,
    features,
    model,
    optimizer,
    scheduler,
    state: { epoch: 0, globalStep: 0, bestEpoch: 0, bestValAcc: -Infinity, sinceBest: 0, history: [] },
    warn,
    parallel,
  };
  try {
    if (checkpoint !== null) {
      restore(run, checkpoint);
      if (folder?.training !== undefined && (parallel?.writes ?? true)) {
        // Record what a resume changed (e.g. more `epochs`) where the folder describes its training.
        const training = trainingRecord(run.config, feed);
        if (training.epochs !== folder.training.epochs || training.earlyStop !== folder.training.earlyStop)
          await writeModelConfig(config.out, {
            ...folder,
            training: { ...folder.training, epochs: training.epochs, earlyStop: training.earlyStop },
          });
      }
    } else if (parallel?.writes ?? true) {
      await writeModelConfig(config.out, {
        formatVersion: MODEL_FORMAT_VERSION,
        model: modelConfig,
        features,
        classes: feed.classes,
        // "auto" until the trial has measured (a run stopped before then measures again).
        training: { ...trainingRecord(run.config, feed), ...(trial === null ? {} : { bf16: "auto" }) },
      });
    }
  } catch (error) {
    await closeRun(run);
    throw error;
  }
  return run;
}

/** Copies a checkpoint's weights, optimizer and scheduler state and progress into the run. */
function restore(run: Run, checkpoint: Checkpoint): void {
  const s = checkpoint.state;
  run.model.loadStateDict(checkpoint.model);
  run.optimizer.loadStateDict({
    kind: run.config.optimizer,
    hyper: s.optimizer,
    tensors: checkpoint.optimizer,
  });
  run.scheduler.loadStateDict(s.scheduler);
  // Everything was copied into the model and optimizer: free the loaded copies now, not at the end.
  disposeCheckpoint(checkpoint);
  run.state = {
    epoch: s.epoch,
    globalStep: s.globalStep,
    bestEpoch: s.bestEpoch,
    bestValAcc: s.bestValAcc,
    sinceBest: s.epochsWithoutImprovement,
    history: s.history,
  };
  run.warn(`resuming ${run.out} after epoch ${s.epoch} of ${run.config.epochs}`);
}

/** Stops the feed (the loader thread) and frees the model and optimizer. */
export async function closeRun(run: Run): Promise<void> {
  await run.feed.close();
  run.optimizer.dispose();
  run.model.dispose();
}
