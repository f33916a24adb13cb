/**
 * A trained model is a folder (the seed's single `logs/m2.pth` becomes `runs/<name>/`). This module
 * is the only reader and writer of its files (checkpoints: see checkpoint.ts beside it):
 *
 * ```
 * runs/<name>/
 *   config.json          {formatVersion: 2, model: JointModelConfig, features: FeatureConfig, classes, training?, naming?}
 *   weights.safetensors  the best weights by validation accuracy (PyTorch state_dict names)
 *   last.safetensors     the weights after the last finished epoch
 *   checkpoint.json      epoch, scheduler, best scores, optimizer hyper-parameters (for resume)
 *   checkpoint.safetensors  model weights, Adam's moments and step counts, and the full training state
 *   train_log.jsonl      one JSON line per epoch ({@link TrainLogRecord})
 *   metrics.json         final validation accuracy and separation MSE ({@link TrainMetrics})
 * ```
 *
 * config.json records only what is true of the model: the architecture it has (`model.preset` is
 * the preset only when the architecture is exactly that preset's, else "custom"), the feature
 * settings that are used (no `hopLength` in native mode, which derives its own hop), and the
 * training settings that shaped it — no machine paths, no settings that were ignored.
 *
 * formatVersion 1 (stemscope 0.1) folders still load: they are read as version 2 (see
 * {@link migrateV1}).
 *
 * The U-Net's `ratio` output (`model.unet.output: "ratio"` with `model.unet.topDb`) came within
 * version 2: folders with `direct` or `mask` are written and read exactly as before (no `topDb`),
 * and a reader from before `ratio` refuses a ratio folder at its enum check
 * (`model.unet.output: Invalid option`) instead of running the logits as spectrograms — a clear
 * error, never a silent misreading, so the version did not need a bump. A ratio model's `topDb` must
 * be the native features' own (checked on read and write).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { dispose, encodeSafetensors, loadSafetensors, type Tensor, tidy } from "../engine/index.js";
import { StemscopeError } from "../errors.js";
import { type FeatureConfig, FeatureConfigSchema } from "../features/config.js";
import { writeFileAtomic } from "../util/atomic.js";
import { fromJson, toJson } from "../util/json.js";
import { classifierChannels, JointModel, type JointModelConfig, JointModelConfigSchema } from "./joint.js";
import { PRESET_NAMES, type PresetName, presetName } from "./presets.js";

/** The config.json format version this code writes. */
export const MODEL_FORMAT_VERSION = 2;
/** The versions it reads (older ones are migrated when read). */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

/** The file names of a model folder. */
export const MODEL_FILES = {
  config: "config.json",
  weights: "weights.safetensors",
  last: "last.safetensors",
  checkpoint: "checkpoint.safetensors",
  checkpointSummary: "checkpoint.json",
  trainLog: "train_log.jsonl",
  metrics: "metrics.json",
} as const;

/** A model folder that cannot be used: the message names the file and what was expected. */
export class ModelFolderError extends StemscopeError {}

/**
 * How the model was trained (config.json `training`): the settings that shaped the weights. Only
 * settings that were in effect are present (e.g. `warmup` only with the cosine schedule).
 */
export const TrainingRecordSchema = z
  .object({
    /** The preset asked for; `model.preset` says whether overrides changed it. */
    preset: z.enum(PRESET_NAMES as [PresetName, ...PresetName[]]),
    batchSize: z.number().int().min(1),
    /** Epochs asked for (train_log.jsonl and metrics.json say how many ran). */
    epochs: z.number().int().min(1),
    lr: z.number().positive(),
    weightDecay: z.number().min(0),
    /** Absent in older folders and for the seed's Adam: `adam`. */
    optimizer: z.enum(["adam", "adamw"]).optional(),
    schedule: z.enum(["plateau", "cosine"]),
    /** `cosine` only. */
    warmup: z.number().min(0).lt(1).optional(),
    /** `plateau` only. */
    plateauPatience: z.number().int().min(0).optional(),
    plateauFactor: z.number().gt(0).lt(1).optional(),
    /** λ in λ·L_sep + (1 − λ)·L_cls. */
    lossWeight: z.number().min(0).max(1),
    /** β of the reference-source classification term (0: the seed's loss). */
    referenceWeight: z.number().min(0),
    /** ε of label smoothing (absent: 0). */
    labelSmoothing: z.number().min(0).lt(1).optional(),
    /** L_sep (absent in older folders: `mse`). */
    separationLoss: z.enum(["mse", "shares"]).optional(),
    pit: z.boolean(),
    augment: z.boolean(),
    /** The classifier's reference term saw augmented references (absent: false). */
    augmentReferences: z.boolean().optional(),
    /** bf16 autocast; "auto" while a run has not yet timed its first steps in both (`bf16` auto). */
    bf16: z.union([z.boolean(), z.literal("auto")]),
    seed: z.number().int(),
    earlyStop: z.number().int().min(1).optional(),
    /** Ranks that trained data-parallel, each on batchSize samples a step (absent in older folders: 1). */
    worldSize: z.number().int().min(1).optional(),
    /** How the data was split: the mode asked for, what was used, the sample counts. */
    split: z
      .object({
        mode: z.enum(["auto", "random"]),
        /** `clips`: a clip library's clips split by a seeded name hash (mixtures drawn from each side). */
        source: z.enum(["split.json", "seeded", "random", "clips"]),
        /** Test fraction of a per-sample split (absent when split.json decided). */
        testFraction: z.number().gt(0).lt(1).optional(),
        /** Samples an epoch trained on and validated on. */
        train: z.number().int().min(0),
        test: z.number().int().min(0),
      })
      .strict(),
    /** Present when the run drew its mixtures afresh from a clip library. */
    remix: z
      .object({
        sources: z.number().int().min(2),
        mixtures: z.number().int().min(1),
        valMixtures: z.number().int().min(1),
        gainDb: z.tuple([z.number(), z.number()]),
        /** Source groups left out of training. */
        holdOut: z.array(z.string()),
        /** Clips on each side of the split. */
        trainClips: z.number().int().min(0),
        testClips: z.number().int().min(0),
      })
      .strict()
      .optional(),
  })
  .strict();
export type TrainingRecord = z.infer<typeof TrainingRecordSchema>;

/**
 * How inference recognises a file that holds none of the classes (config.json `naming`, optional:
 * absent, every audible file is named, as before). Written by scripts/calibrate-none.ts from its
 * measurements; applied by inference (src/infer/model.ts) with the rules of src/separator/naming.ts.
 */
export const NamingRecordSchema = z
  .object({
    none: z
      .object({
        /**
         * `play`: no instrument when the file's highest play probability is below `threshold`;
         * `entropy`: when the sources' mean normalised class entropy (0 sure … 1 uniform) is above it.
         */
        statistic: z.enum(["play", "entropy"]),
        threshold: z.number().min(0).max(1),
        /** What the threshold was measured on: files of music kept named, non-music files rejected. */
        calibration: z
          .object({
            music: z.number().int().min(0),
            musicNamed: z.number().int().min(0),
            nonMusic: z.number().int().min(0),
            nonMusicRejected: z.number().int().min(0),
          })
          .strict()
          .optional(),
      })
      .strict(),
  })
  .strict();
export type NamingRecord = z.infer<typeof NamingRecordSchema>;

/** config.json of a model folder. */
export const ModelFolderConfigSchema = z
  .object({
    formatVersion: z.literal(MODEL_FORMAT_VERSION),
    /** Architecture: rebuild with `new JointModel(model)`. */
    model: JointModelConfigSchema,
    /** The feature settings the model was trained on (inference must use the same). */
    features: FeatureConfigSchema,
    /** Class names; logit i is classes[i]. Sorted by code point, as the seed's labels. */
    classes: z.array(z.string().min(1)).min(2),
    /** Absent for a folder not written by `stemscope train` (or a version-1 folder without it). */
    training: TrainingRecordSchema.optional(),
    /** The "no instrument" rule; absent: every audible file is named. */
    naming: NamingRecordSchema.optional(),
  })
  .strict();
export type ModelFolderConfig = z.infer<typeof ModelFolderConfigSchema>;

/** One epoch's numbers: one line of train_log.jsonl. Losses are means over samples. */
export const TrainLogRecordSchema = z.object({
  /** 1-based. */
  epoch: z.number().int().min(1),
  /** λ·L_sep + (1 − λ)·L_cls, L_sep = Σ_k MSE_k, L_cls = Σ_k CE_k. */
  trainLoss: z.number(),
  trainSepLoss: z.number(),
  trainClsLoss: z.number(),
  /** Mean squared error per spectrogram value (L_sep / K). */
  trainSepMse: z.number(),
  /** Per-source classification accuracy in [0, 1]. */
  trainAcc: z.number(),
  valLoss: z.number(),
  valSepLoss: z.number(),
  valClsLoss: z.number(),
  valSepMse: z.number(),
  valAcc: z.number(),
  /**
   * Share of validation sources named correctly by predict's rule (the K classes of highest play
   * probability, order-free; see src/separator/naming.ts).
   */
  valNamedAcc: z.number(),
  /** The learning rate used during this epoch. */
  lr: z.number(),
  steps: z.number().int(),
  trainSeconds: z.number(),
  valSeconds: z.number(),
  /** Seconds the training loop waited for the batch loader this epoch. */
  loaderWaitSeconds: z.number(),
  /** Training samples per second (steps only, loader waits included). */
  samplesPerSecond: z.number(),
  /** True when this epoch's weights became weights.safetensors. */
  best: z.boolean(),
  /** Resident set size after the epoch, MiB. */
  rssMb: z.number(),
  /** Native tensors alive after the epoch (constant across epochs when nothing leaks). */
  liveTensors: z.number().int(),
  /** Ranks that trained the epoch (its sums and samplesPerSecond cover them all; absent in older logs: 1). */
  worldSize: z.number().int().min(1).optional(),
});
/** One epoch as the trainer writes it (every field). */
export type EpochRecord = z.infer<typeof TrainLogRecordSchema>;
/** One train_log.jsonl line as read: logs of older versions may lack fields, so only `epoch` is sure. */
export type TrainLogRecord = Partial<EpochRecord> & { epoch: number };
const TrainLogLineSchema = TrainLogRecordSchema.partial().required({ epoch: true });

/** metrics.json: the best and the last epoch's validation numbers. */
export interface TrainMetrics {
  epochs: number;
  bestEpoch: number;
  valAccuracy: number;
  valSeparationMse: number;
  valLoss: number;
  last: { epoch: number; valAccuracy: number; valSeparationMse: number; valLoss: number };
  classes: string[];
  trainSamples: number;
  testSamples: number;
  split: TrainingRecord["split"]["source"];
}

/** A loaded model folder. */
export interface LoadedModelFolder {
  /** In eval mode, channels-last, weights loaded. The caller disposes it. */
  model: JointModel;
  config: ModelFolderConfig;
  classes: string[];
  features: FeatureConfig;
}

function describeIssue(path: string, error: z.ZodError): string {
  const issue = error.issues[0];
  return `${path}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`;
}

/**
 * Reads and validates `<dir>/config.json` (a version-1 file is migrated to version 2).
 * @throws ModelFolderError for a missing folder or file, bad JSON, an unknown formatVersion, a config
 *   that does not validate (the message names the field) or a class name given twice
 */
export function readModelConfig(dir: string): ModelFolderConfig {
  const path = join(dir, MODEL_FILES.config);
  if (!existsSync(dir)) throw new ModelFolderError(`${dir}: model folder not found`);
  if (!existsSync(path)) {
    throw new ModelFolderError(`${path}: not found; expected a model folder written by \`stemscope train\``);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ModelFolderError(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version !== "number" || !READABLE_FORMAT_VERSIONS.includes(version)) {
    throw new ModelFolderError(
      `${path}: formatVersion ${JSON.stringify(version)} is not supported; this stemscope reads formatVersion ${READABLE_FORMAT_VERSIONS.join(" and ")}`,
    );
  }
  const parsed = ModelFolderConfigSchema.safeParse(
    version === 1 ? migrateV1(raw as V1Config) : withoutEmptyTraining(raw as Record<string, unknown>),
  );
  if (!parsed.success) throw new ModelFolderError(describeIssue(path, parsed.error));
  const { classes } = parsed.data;
  const repeated = classes.findIndex((name, i) => classes.indexOf(name) !== i);
  if (repeated >= 0) {
    throw new ModelFolderError(
      `${path}: class name "${classes[repeated]}" appears twice in "classes" (entries ${classes.indexOf(classes[repeated]!)} and ${repeated}); each output needs its own name`,
    );
  }
  checkRatioFeatures(path, parsed.data);
  if (parsed.data.classes.length !== parsed.data.model.numClasses) {
    throw new ModelFolderError(
      `${path}: ${parsed.data.classes.length} class names but the model has ${parsed.data.model.numClasses} outputs`,
    );
  }
  return parsed.data;
}

/**
 * A `ratio` U-Net writes native feature values with the features' dynamic range: it needs native
 * features with the same `topDb`.
 * @throws ModelFolderError naming the file and both values
 */
function checkRatioFeatures(path: string, config: ModelFolderConfig): void {
  const { unet } = config.model;
  if (unet.output !== "ratio") return;
  const { mode, topDb } = config.features;
  if (mode !== "native") {
    throw new ModelFolderError(
      `${path}: model.unet.output "ratio" needs native features (ratio masks act on the mixture's mel power), but features.mode is "${mode}"`,
    );
  }
  if (unet.topDb !== topDb) {
    throw new ModelFolderError(
      `${path}: model.unet.topDb ${unet.topDb} differs from features.topDb ${topDb}; a ratio U-Net must use its features' dynamic range`,
    );
  }
}

/** An empty `training` object (hand-made folders write one) means no training record. */
function withoutEmptyTraining(raw: Record<string, unknown>): Record<string, unknown> {
  const { training, ...rest } = raw;
  const empty = training !== null && typeof training === "object" && Object.keys(training).length === 0;
  return empty ? rest : raw;
}

/** config.json as stemscope 0.1 wrote it: `training` was the whole training config, paths included. */
interface V1Config {
  formatVersion: 1;
  model?: Record<string, unknown>;
  features?: Record<string, unknown>;
  classes?: unknown;
  training?: Record<string, unknown>;
}

/**
 * A version-1 config.json as version 2: the architecture keeps its arguments but `model.preset`
 * becomes "custom" when they are not the preset's; `features.hopLength` is dropped in native mode;
 * `training` keeps the settings that shaped the weights (machine paths and run options go), and is
 * left out when it does not describe a complete run.
 */
export function migrateV1(raw: V1Config): unknown {
  const modelParsed = JointModelConfigSchema.safeParse(raw.model);
  const model = modelParsed.success
    ? { ...modelParsed.data, preset: presetName(modelParsed.data) }
    : raw.model;
  const featuresParsed = FeatureConfigSchema.safeParse(raw.features ?? {});
  const features = featuresParsed.success ? recordedFeatures(featuresParsed.data) : raw.features;
  const t = raw.training ?? {};
  const split = t.split as Record<string, unknown> | undefined;
  const cosine = t.schedule === "cosine";
  const fromSplitJson = split?.source === "split.json";
  const candidate = {
    preset: t.preset,
    batchSize: t.batchSize,
    epochs: t.epochs,
    lr: t.lr,
    weightDecay: t.weightDecay,
    schedule: t.schedule,
    ...(cosine
      ? { warmup: t.warmup }
      : { plateauPatience: t.plateauPatience, plateauFactor: t.plateauFactor }),
    lossWeight: t.lossWeight,
    referenceWeight: t.referenceWeight ?? 0,
    pit: t.pit ?? false,
    augment: t.augment ?? false,
    bf16: t.bf16 ?? false,
    seed: t.seed,
    ...(t.earlyStop === undefined ? {} : { earlyStop: t.earlyStop }),
    split: {
      mode: split?.mode,
      source: split?.source,
      ...(fromSplitJson ? {} : { testFraction: t.testFraction }),
      train: split?.train,
      test: split?.test,
    },
  };
  const training = TrainingRecordSchema.safeParse(candidate);
  return {
    formatVersion: MODEL_FORMAT_VERSION,
    model,
    features,
    classes: raw.classes,
    ...(training.success ? { training: training.data } : {}),
  };
}

/** The feature settings as config.json records them: `hopLength` only where it is used (seed mode). */
function recordedFeatures(features: FeatureConfig): Partial<FeatureConfig> {
  if (features.mode === "seed") return features;
  const { hopLength: _ignored, ...used } = features;
  return used;
}

/**
 * Writes `<dir>/config.json` (atomically), validated against the schema first. `model.preset` and
 * `model.resnet.inChannels` are written as what the architecture is ({@link presetName}, the
 * classifier's real input channels), whatever the config says.
 * @throws ModelFolderError when the config does not validate
 */
export async function writeModelConfig(dir: string, config: ModelFolderConfig): Promise<void> {
  const path = join(dir, MODEL_FILES.config);
  const parsed = ModelFolderConfigSchema.safeParse(config);
  if (!parsed.success) throw new ModelFolderError(describeIssue(path, parsed.error));
  checkRatioFeatures(path, parsed.data);
  const model = parsed.data.model;
  const written = {
    ...parsed.data,
    model: {
      ...model,
      preset: presetName(model),
      resnet: { ...model.resnet, inChannels: classifierChannels(model) },
    },
    features: recordedFeatures(parsed.data.features),
  };
  await writeFileAtomic(path, `${toJson(written, 2)}\n`);
}

/**
 * Writes a weights file of the folder (atomically): `weights` (the best epoch) or `last`.
 * @param state the model's state dict (PyTorch names)
 */
export async function writeWeights(
  dir: string,
  which: "weights" | "last",
  state: Map<string, Tensor>,
  epoch: number,
): Promise<void> {
  await writeFileAtomic(join(dir, MODEL_FILES[which]), encodeSafetensors(state, { epoch: String(epoch) }));
}

/** Writes train_log.jsonl (atomically): one line per epoch, in order. */
export async function writeTrainLog(dir: string, records: readonly EpochRecord[]): Promise<void> {
  await writeFileAtomic(join(dir, MODEL_FILES.trainLog), records.map((r) => `${toJson(r)}\n`).join(""));
}

/**
 * Reads `<dir>/train_log.jsonl`. Lines that are not a JSON object with an integer `epoch` ≥ 1 (and
 * numbers where numbers belong) are skipped and reported through `onWarning`, naming the line.
 * @returns the records in file order ([] when the folder has no train log)
 */
export function readTrainLog(
  dir: string,
  onWarning: (message: string) => void = () => undefined,
): TrainLogRecord[] {
  const path = join(dir, MODEL_FILES.trainLog);
  if (!existsSync(path)) return [];
  const out: TrainLogRecord[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let value: unknown;
      try {
        value = fromJson(line);
      } catch {
        value = undefined;
      }
      const parsed = TrainLogLineSchema.safeParse(value);
      if (parsed.success) out.push(parsed.data);
      else
        onWarning(
          `${path}:${i + 1}: not a train log record (a JSON object with an integer "epoch"); skipped`,
        );
    });
  return out;
}

/** Writes metrics.json (atomically). */
export async function writeTrainMetrics(dir: string, metrics: TrainMetrics): Promise<void> {
  await writeFileAtomic(join(dir, MODEL_FILES.metrics), `${toJson(metrics, 2)}\n`);
}

/** Whether `dir` already holds (the start of) a training run. */
export function holdsTrainingRun(dir: string): boolean {
  return existsSync(join(dir, MODEL_FILES.checkpoint)) || existsSync(join(dir, MODEL_FILES.config));
}

const FLOATING = new Set<string>(["float32", "float64", "bfloat16", "float16"]);

/** The first floating tensor holding NaN or ±infinity, with how many such values, or null. */
export function firstNonFiniteTensor(tensors: Map<string, Tensor>): { name: string; count: number } | null {
  for (const [name, t] of tensors) {
    if (!FLOATING.has(t.dtype)) continue;
    const count = tidy(() => t.isFinite().logicalNot().float().sum().item());
    if (count > 0) return { name, count };
  }
  return null;
}

/**
 * Builds the model of a folder and loads its weights.
 * @param options.weights which weights file (default `weights.safetensors`, the best epoch)
 * @throws ModelFolderError (see {@link readModelConfig}) or SafetensorsError for a missing/corrupt weights
 *   file, when the weights do not fit the architecture, or hold NaN or infinite values
 */
export async function loadModelFolder(
  dir: string,
  options: { weights?: string } = {},
): Promise<LoadedModelFolder> {
  const config = readModelConfig(dir);
  const weightsPath = join(dir, options.weights ?? MODEL_FILES.weights);
  const { tensors } = await loadSafetensors(weightsPath);
  const bad = firstNonFiniteTensor(tensors);
  if (bad !== null) {
    dispose([...tensors.values()]);
    throw new ModelFolderError(
      `${weightsPath}: tensor "${bad.name}" holds ${bad.count} NaN or infinite value(s); these weights are broken (a diverged run?): retrain, or load another weights file`,
    );
  }
  const model = new JointModel(config.model as JointModelConfig);
  try {
    model.loadStateDict(tensors);
  } catch (error) {
    model.dispose();
    throw new ModelFolderError(
      `${weightsPath}: does not fit the architecture in config.json (${(error as Error).message})`,
      { cause: error },
    );
  } finally {
    dispose([...tensors.values()]);
  }
  model.toChannelsLast().eval();
  return { model, config, classes: config.classes, features: config.features };
}
