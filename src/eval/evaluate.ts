/**
 * `stemscope eval`: a model on a labels.txt dataset (all of it, or the test part of split.json),
 * through the Separator's batched forward: features of a batch of samples in one native-kernel
 * call, one forward pass, then the metrics per sample while the next batch's audio is read.
 *
 * For every sample (mixture + K reference sources + K labels):
 * - the model's outputs on the mixture's features (the clip length the model was trained on);
 * - the seed's metrics in the fixed source order: per-source accuracy (argmax of logits_k = label_k)
 *   and spectrogram MSE (separated_k vs the features of source k);
 * - an aligned order: the permutation π of the separated outputs with the least spectrogram MSE
 *   against the references (what PIT training uses); the confusion matrix, per-class precision /
 *   recall / F1, macro / micro F1 and the audio metrics use it;
 * - pair exact match: the multiset of predicted classes equals the multiset of labels (order-free);
 * - named accuracy: the K instruments `predict` would name (the K highest play probabilities
 *   1 − Π_k (1 − p_k)), compared with the labels order-free — the share of sources named correctly,
 *   and the share of mixtures whose K instruments are all named (named exact match);
 * - audio: stems from masks on the mixture's STFT (src/separator/masks.ts), scored against the
 *   reference source audio by SDR, SI-SDR, and SI-SDRi (improvement over the mixture's SI-SDR), in
 *   the aligned order and, order-free, in each mixture's best order (the permutation with the highest
 *   total SI-SDR, as permutation-invariant separation papers score);
 * - oracle (when asked): the same resynthesis from the reference sources' own features instead of
 *   the model's — the ideal ratio masks in the model's 128-band domain, so the ceiling any model
 *   with this feature domain and resynthesis can reach — scored the same way, source k against
 *   reference k.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { fixLength, loadAudio } from "../audio/load.js";
import { readTrainData, type SampleRef, splitTrainData, type TrainData } from "../data/dataset/dataset.js";
import { parseSettings } from "../errors.js";
import { bestAssignment } from "../separator/assignment.js";
import { InferenceError } from "../separator/errors.js";
import {
  matchedLabels,
  namedClasses,
  type NoneRule,
  noneStatistic,
  playProbabilities,
  rejectsAsNone,
  sameLabels,
  sourceClasses,
} from "../separator/naming.js";
import type { BatchOutputs, Separator } from "../separator/separator.js";
import {
  bestSiSdrOrder,
  classificationScores,
  confusionMatrix,
  finiteMean,
  finiteMedian,
  meanSquaredError,
  sourceAudioScores,
} from "./metrics.js";

/** Version of the metrics.json layout written by {@link evaluate}. */
export const EVAL_FORMAT_VERSION = 1;

/** Evaluation settings and their defaults (here and nowhere else). */
export const EvaluateOptionsSchema = z
  .object({
    /**
     * Which samples: `auto` — the test part of split.json when the folder has one, else every
     * sample; `test` — split.json's test part (an error without split.json); `all` — every sample.
     */
    subset: z.enum(["auto", "test", "all"]).default("auto"),
    /** Samples per forward pass (32: a few % less CPU per sample than 16 on a 2-core Zen 4, as 64). */
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Compute the audio metrics (SDR, SI-SDR, SI-SDRi; needs masks and iSTFTs). */
    audio: z.boolean().default(true),
    /** Evaluate at most this many samples (the first ones of the subset). */
    limit: z.number().int().min(1).optional(),
    /** bfloat16 arithmetic where the backend has it (faster on CPUs with AVX512-BF16 / AMX). */
    bf16: z.boolean().default(false),
    /**
     * Also score the oracle: stems resynthesised from the reference sources' features (the ideal
     * ratio masks in the model's own feature domain), the ceiling of the model's resynthesis.
     * Needs `audio` true.
     */
    oracle: z.boolean().default(false),
  })
  .strict()
  .refine((o) => !o.oracle || o.audio, {
    message: "the oracle scores audio stems, so the audio metrics must not be skipped",
    path: ["oracle"],
  });
export type EvaluateSettings = z.output<typeof EvaluateOptionsSchema>;

/** Options of {@link evaluate}. */
export type EvaluateOptions = z.input<typeof EvaluateOptionsSchema> & {
  onProgress?: (done: number, total: number) => void;
};

/** Mean, median and count of a per-source audio metric (dB). */
export interface DbSummary {
  mean: number;
  median: number;
  count: number;
}

/** SDR, SI-SDR and SI-SDRi of a set of stems against the references. */
export interface AudioScoreSummary {
  sdr: DbSummary;
  siSdr: DbSummary;
  siSdrImprovement: DbSummary;
}

/** The content of metrics.json. */
export interface EvalMetrics {
  formatVersion: number;
  model: string;
  /** What ran the model (a backend name: libtorch, onnx) and whether in bfloat16. */
  backend?: { name: string; bf16: boolean };
  data: string;
  /** Which samples: "split.json test" or "all". */
  split: string;
  samples: number;
  sources: number;
  classes: string[];
  classification: {
    /** The seed's metric: argmax of logits_k = label_k in the fixed source order. */
    perSourceAccuracy: number;
    /** The same after aligning outputs to references by least spectrogram MSE. */
    perSourceAccuracyAligned: number;
    /** Fraction of samples whose predicted labels equal the true labels as a multiset (order-free). */
    pairExactMatch: number;
    /**
     * Share of sources named correctly by predict's rule: the K classes of highest play probability
     * 1 − Π_k (1 − p_k(class)), matched with the labels order-free (so always K distinct names).
     */
    namedAccuracy: number;
    /** Share of mixtures whose K named classes are exactly their K labels. */
    namedExactMatch: number;
    /**
     * Share of mixtures the model folder's "no instrument" rule (config.json `naming.none`) rejects,
     * as predict would: they name nothing (counted wrong above). Present when the folder has a rule.
     */
    namedNone?: number;
    macroF1: number;
    microF1: number;
    perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
    /** counts[t][p]: aligned sources of true class t predicted as p; labels = classes. */
    confusionMatrix: number[][];
  };
  separation: {
    /** The seed's spectrogram MSE (mean over values, fixed source order). */
    spectrogramMse: number;
    /** Spectrogram MSE in the aligned order. */
    spectrogramMseAligned: number;
    /** Present when the audio metrics were computed. */
    audio?: {
      sdr: DbSummary;
      siSdr: DbSummary;
      mixtureSiSdr: DbSummary;
      siSdrImprovement: DbSummary;
      /** SI-SDR and SI-SDRi means by the reference source's class. */
      perClass: Record<string, { siSdr: number; siSdrImprovement: number; count: number }>;
      /**
       * Order-free: each mixture's stems scored in the permutation with the highest total SI-SDR
       * (so the most SI-SDRi too), whatever the spectrogram MSE prefers. Absent from metrics.json
       * files written before it was added.
       */
      bestOrder?: {
        siSdr: DbSummary;
        siSdrImprovement: DbSummary;
        /** Share of mixtures whose aligned order (least spectrogram MSE) is that best order. */
        alignedIsBest: number;
      };
      /**
       * With `oracle`: the stems resynthesised from the reference sources' features (ideal ratio
       * masks in the model's feature domain), source k scored against reference k.
       */
      oracle?: AudioScoreSummary;
    };
  };
  seconds: number;
}

function dbSummary(values: number[]): DbSummary {
  const m = finiteMean(values);
  return { mean: m.mean, median: finiteMedian(values), count: m.count };
}

/**
 * Chooses the samples to evaluate.
 * @throws DataError from the dataset reader; InferenceError for `test` without split.json
 */
export function evaluationSamples(
  data: TrainData,
  subset: EvaluateSettings["subset"],
): { samples: SampleRef[]; description: string } {
  if (subset === "all") return { samples: data.samples, description: "all" };
  let chosen: SampleRef[] | undefined;
  try {
    const s = splitTrainData(data, "auto", { seed: 0, testFraction: 0.2 });
    if (s.source === "split.json") chosen = s.test.map((i) => data.samples[i]!);
  } catch (error) {
    // A split.json that is there but unusable is an error: scoring all samples would score training ones.
    if (subset === "test" || !existsSync(join(data.dir, "split.json"))) throw error;
    throw new InferenceError(
      `${(error as Error).message}; fix it, or evaluate every sample with \`subset\` all`,
      { cause: error },
    );
  }
  if (chosen !== undefined) return { samples: chosen, description: "split.json test" };
  if (subset === "test") {
    throw new InferenceError(`${data.dir}: no split.json, so there is no test part; use \`subset\` all`);
  }
  return { samples: data.samples, description: "all" };
}

/** Reads a dataset and checks that the model can be evaluated on it. */
function readDataset(separator: Separator, dataDir: string): TrainData {
  const data = readTrainData(dataDir);
  for (const sample of data.samples) {
    const unknown = sample.labels.find((l) => !separator.classes.includes(l));
    if (unknown !== undefined) {
      throw new InferenceError(
        `${data.labelsPath}:${sample.line}: label "${unknown}" is not a class of the model ${separator.dir} (${separator.classes.join(", ")})`,
      );
    }
  }
  if (data.sources !== separator.sources) {
    throw new InferenceError(
      `${data.labelsPath}: samples have ${data.sources} sources, but the model ${separator.dir} separates ${separator.sources}`,
    );
  }
  return data;
}

/** The audio of a batch of samples at the model's rate and clip length: mixtures and their sources. */
async function readBatchAudio(
  batch: readonly SampleRef[],
  rate: number,
  length: number,
): Promise<{ mixtures: Float32Array[]; sources: Float32Array[][] }> {
  const read = async (path: string): Promise<Float32Array> =>
    fixLength((await loadAudio(path, { sampleRate: rate })).samples, length);
  const loaded = await Promise.all(
    batch.map(async (s) => ({
      mixture: await read(s.mixed),
      sources: await Promise.all(s.sources.map(read)),
    })),
  );
  return { mixtures: loaded.map((l) => l.mixture), sources: loaded.map((l) => l.sources) };
}

/** The running sums of every metric. */
class Tally {
  correctFixed = 0;
  correctAligned = 0;
  exact = 0;
  namedCorrect = 0;
  namedExact = 0;
  namedNone = 0;
  mseFixed = 0;
  mseAligned = 0;
  readonly truth: number[] = [];
  readonly predicted: number[] = [];
  readonly sdrs: number[] = [];
  readonly siSdrs: number[] = [];
  readonly mixSiSdrs: number[] = [];
  readonly improvements: number[] = [];
  readonly best = { siSdrs: [] as number[], improvements: [] as number[], alignedIsBest: 0 };
  readonly byClass: { siSdr: number[]; imp: number[] }[];
  readonly oracle = { sdrs: [] as number[], siSdrs: [] as number[], improvements: [] as number[] };

  constructor(
    readonly classes: readonly string[],
    /** The model folder's "no instrument" rule, applied to each mixture as predict applies it. */
    readonly noneRule?: NoneRule,
  ) {
    this.byClass = classes.map(() => ({ siSdr: [], imp: [] }));
  }

  /**
   * One sample: classification in the fixed and the aligned order, naming, spectrogram MSE.
   * @returns the aligned order: output s ↔ reference perm[s]
   */
  addSample(probs: Float64Array, planes: Float32Array[], refs: Float32Array[], labels: number[]): number[] {
    const k = labels.length;
    const c = this.classes.length;
    const preds = sourceClasses(probs, c);
    const cost = planes.map((sep) => refs.map((r) => meanSquaredError(sep, r)));
    const perm = bestAssignment(cost);
    for (let s = 0; s < k; s++) {
      const j = perm[s]!;
      if (preds[s] === labels[s]) this.correctFixed++;
      if (preds[s] === labels[j]) this.correctAligned++;
      this.truth.push(labels[j]!);
      this.predicted.push(preds[s]!);
      this.mseFixed += cost[s]![s]!;
      this.mseAligned += cost[s]![j]!;
    }
    if (sameLabels(preds, labels)) this.exact++;
    const rule = this.noneRule;
    // one mixture is one window: its play probabilities are its summary
    const none =
      rule !== undefined &&
      rejectsAsNone(rule, noneStatistic(rule.statistic, playProbabilities(probs, c), [probs], c));
    if (none) this.namedNone++;
    const matched = none ? 0 : matchedLabels(namedClasses(probs, k, c), labels);
    this.namedCorrect += matched;
    if (matched === k) this.namedExact++;
    return perm;
  }

  /**
   * The audio scores of one sample's stems against its references, in the aligned order and in the
   * order of the highest total SI-SDR.
   */
  addAudio(
    stems: Float32Array[],
    references: Float32Array[],
    mixture: Float32Array,
    labels: number[],
    perm: number[],
  ): void {
    const scores = stems.map((stem) => references.map((ref) => sourceAudioScores(stem, ref, mixture)));
    stems.forEach((_, s) => {
      const j = perm[s]!;
      const score = scores[s]![j]!;
      this.sdrs.push(score.sdr);
      this.siSdrs.push(score.siSdr);
      this.mixSiSdrs.push(score.mixtureSiSdr);
      this.improvements.push(score.siSdrImprovement);
      const entry = this.byClass[labels[j]!];
      entry?.siSdr.push(score.siSdr);
      entry?.imp.push(score.siSdrImprovement);
    });
    const best = bestSiSdrOrder(scores);
    best.forEach((j, s) => {
      this.best.siSdrs.push(scores[s]![j]!.siSdr);
      this.best.improvements.push(scores[s]![j]!.siSdrImprovement);
    });
    if (best.every((j, s) => j === perm[s])) this.best.alignedIsBest++;
  }

  /** The audio scores of one sample's oracle stems: stem k against reference k. */
  addOracle(stems: Float32Array[], references: Float32Array[], mixture: Float32Array): void {
    stems.forEach((stem, k) => {
      const scores = sourceAudioScores(stem, references[k]!, mixture);
      this.oracle.sdrs.push(scores.sdr);
      this.oracle.siSdrs.push(scores.siSdr);
      this.oracle.improvements.push(scores.siSdrImprovement);
    });
  }

  /** The metrics of n samples of k sources. */
  metrics(
    n: number,
    k: number,
    withAudio: boolean,
    withOracle: boolean,
  ): Pick<EvalMetrics, "classification" | "separation"> {
    const counts = confusionMatrix(this.truth, this.predicted, this.classes.length);
    const scores = classificationScores(counts);
    const perClass: EvalMetrics["classification"]["perClass"] = {};
    this.classes.forEach((name, i) => (perClass[name] = scores.perClass[i]!));
    const separation: EvalMetrics["separation"] = {
      spectrogramMse: this.mseFixed / (n * k),
      spectrogramMseAligned: this.mseAligned / (n * k),
    };
    if (withAudio) {
      separation.audio = this.audioSummary(k);
      if (withOracle) {
        separation.audio.oracle = {
          sdr: dbSummary(this.oracle.sdrs),
          siSdr: dbSummary(this.oracle.siSdrs),
          siSdrImprovement: dbSummary(this.oracle.improvements),
        };
      }
    }
    return {
      classification: {
        perSourceAccuracy: this.correctFixed / (n * k),
        perSourceAccuracyAligned: this.correctAligned / (n * k),
        pairExactMatch: this.exact / n,
        namedAccuracy: this.namedCorrect / (n * k),
        namedExactMatch: this.namedExact / n,
        ...(this.noneRule === undefined ? {} : { namedNone: this.namedNone / n }),
        macroF1: scores.macroF1,
        microF1: scores.microF1,
        perClass,
        confusionMatrix: counts,
      },
      separation,
    };
  }

  private audioSummary(k: number): NonNullable<EvalMetrics["separation"]["audio"]> {
    const perClass: Record<string, { siSdr: number; siSdrImprovement: number; count: number }> = {};
    this.classes.forEach((name, i) => {
      const e = this.byClass[i]!;
      if (e.siSdr.length === 0) return;
      perClass[name] = {
        siSdr: finiteMean(e.siSdr).mean,
        siSdrImprovement: finiteMean(e.imp).mean,
        count: e.siSdr.length,
      };
    });
    return {
      sdr: dbSummary(this.sdrs),
      siSdr: dbSummary(this.siSdrs),
      mixtureSiSdr: dbSummary(this.mixSiSdrs),
      siSdrImprovement: dbSummary(this.improvements),
      perClass,
      bestOrder: {
        siSdr: dbSummary(this.best.siSdrs),
        siSdrImprovement: dbSummary(this.best.improvements),
        alignedIsBest: this.best.alignedIsBest / Math.max(1, this.best.siSdrs.length / k),
      },
    };
  }
}

/**
 * Evaluates a model on the labels.txt dataset in `dataDir`.
 * @param separator the model (a Separator, e.g. from loadSeparator, or a StemscopeModel)
 * @throws DataError for an unreadable dataset; InferenceError for labels the model does not know or
 *   a source count that differs from the model's; ParameterError for an invalid option
 */
export async function evaluate(
  separator: Separator,
  dataDir: string,
  options: EvaluateOptions = {},
): Promise<EvalMetrics> {
  const t0 = performance.now();
  const { onProgress, ...rest } = options;
  const settings = parseSettings(EvaluateOptionsSchema, rest, "evaluation options");
  const data = readDataset(separator, dataDir);
  const { samples: all, description } = evaluationSamples(data, settings.subset);
  const samples = settings.limit !== undefined ? all.slice(0, settings.limit) : all;
  const { featurizer, classes } = separator;
  const rate = separator.features.sampleRate;
  const tally = new Tally(classes, separator.config.naming?.none);
  const batchAt = (b0: number): SampleRef[] => samples.slice(b0, b0 + settings.batchSize);
  // While onnxruntime runs a batch's forward on its own threads, this thread reads and featurizes the
  // next batch and scores the previous one, so that work takes CPU time the forward's threads would
  // otherwise spend waiting (libtorch's forward runs on this thread: there they follow each other).
  const prepare = async (b0: number) => {
    const batch = batchAt(b0);
    const audio = await readBatchAudio(batch, rate, featurizer.clipLength);
    return { b0, batch, audio, features: featurizer.samples(audio.mixtures, audio.sources) };
  };
  let current = samples.length > 0 ? await prepare(0) : null;
  let scorePrevious: (() => void) | null = null;
  while (current !== null) {
    const { b0, batch, audio, features } = current;
    const forward = separator.forward(features.mixture, batch.length, {
      planes: true,
      bf16: settings.bf16,
    });
    // handled now: a forward that fails while the next batch is read is thrown below, not reported as
    // an unhandled rejection
    forward.catch(() => undefined);
    const following = b0 + settings.batchSize < samples.length ? prepare(b0 + settings.batchSize) : null;
    // an error here waits for the forward first, so nothing runs on after evaluate has thrown
    const ready =
      following === null
        ? null
        : await following.catch(async (error: unknown) => {
            await forward.catch(() => undefined);
            throw error;
          });
    scorePrevious?.();
    const out = await forward;
    scorePrevious = () => {
      scoreBatch(separator, tally, batch, audio, features.sources, out, settings);
      onProgress?.(Math.min(samples.length, b0 + batch.length), samples.length);
    };
    await new Promise<void>((resolve) => setImmediate(resolve));
    current = ready;
  }
  scorePrevious?.();
  const k = separator.sources;
  return {
    formatVersion: EVAL_FORMAT_VERSION,
    model: separator.dir,
    backend: {
      name: separator.runner.backend,
      bf16: settings.bf16 && separator.runner.backend === "libtorch",
    },
    data: dataDir,
    split: description,
    samples: samples.length,
    sources: k,
    classes,
    ...tally.metrics(samples.length, k, settings.audio, settings.oracle),
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Adds a batch's samples to the tally: classification and MSE, and the audio scores (the oracle's
 * too) when asked.
 */
function scoreBatch(
  separator: Separator,
  tally: Tally,
  batch: readonly SampleRef[],
  audio: { mixtures: Float32Array[]; sources: Float32Array[][] },
  references: Float32Array,
  out: BatchOutputs,
  settings: Pick<EvaluateSettings, "audio" | "oracle">,
): void {
  const k = separator.sources;
  const { featurizer } = separator;
  const cell = featurizer.cell;
  const n = featurizer.clipLength;
  // Every stem of the batch at once (the native kernel splits the batch across the engine's threads).
  const stems = settings.audio ? featurizer.stemsBatch(audio.mixtures, out.planes!, k) : null;
  const oracle = settings.oracle ? featurizer.stemsBatch(audio.mixtures, references, k) : null;
  const stemsOf = (all: Float32Array, i: number): Float32Array[] =>
    Array.from({ length: k }, (_, s) => all.subarray((i * k + s) * n, (i * k + s + 1) * n));
  batch.forEach((sample, i) => {
    const labels = sample.labels.map((l) => separator.classes.indexOf(l));
    const refs = Array.from({ length: k }, (_, j) =>
      references.subarray((i * k + j) * cell, (i * k + j + 1) * cell),
    );
    const perm = tally.addSample(out.probabilitiesOf(i), out.planesOf(i), refs, labels);
    const mixture = audio.mixtures[i]!;
    if (stems !== null) tally.addAudio(stemsOf(stems, i), audio.sources[i]!, mixture, labels, perm);
    if (oracle !== null) tally.addOracle(stemsOf(oracle, i), audio.sources[i]!, mixture);
  });
}
