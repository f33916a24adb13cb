/**
 * `stemscope eval`: a model on a labels.txt dataset (all of it, or the test part of split.json).
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
 * - audio: stems from masks on the mixture's STFT (src/infer/masks.ts), scored against the
 *   reference source audio by SDR, SI-SDR, and SI-SDRi (improvement over the mixture's SI-SDR).
 */
import { fixLength, loadAudio } from "../audio/load.js";
import { sampleFeatures } from "../data/cache.js";
import { readTrainData, type SampleRef, splitTrainData, type TrainData } from "../data/dataset.js";
import { F, noGrad, tensor, tidy } from "../engine/index.js";
import { getExtractor } from "../features/pipeline.js";
import { separateClip } from "../infer/masks.js";
import { InferenceError, type StemscopeModel } from "../infer/model.js";
import { bestAssignment } from "../separator/assignment.js";
import { matchedLabels, namedClasses, sameLabels } from "../separator/naming.js";
import {
  classificationScores,
  confusionMatrix,
  finiteMean,
  finiteMedian,
  meanSquaredError,
  sourceAudioScores,
} from "./metrics.js";

/** Version of the metrics.json layout written by {@link evaluate}. */
export const EVAL_FORMAT_VERSION = 1;

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * `auto` (default): the test part of split.json when the folder has one, else every sample;
   * `test`: split.json's test part (an error without split.json); `all`: every sample.
   */
  split?: "auto" | "test" | "all";
  /** Samples per forward pass. Default 16. */
  batchSize?: number;
  /** Compute the audio metrics (SDR, SI-SDR, SI-SDRi; needs masks and iSTFTs). Default true. */
  audio?: boolean;
  /** Evaluate at most this many samples (the first ones of the chosen split). */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Mean, median and count of a per-source audio metric (dB). */
export interface DbSummary {
  mean: number;
  median: number;
  count: number;
}

/** The content of metrics.json. */
export interface EvalMetrics {
  formatVersion: number;
  model: string;
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
  split: "auto" | "test" | "all",
): { samples: SampleRef[]; description: string } {
  if (split === "all") return { samples: data.samples, description: "all" };
  let chosen: SampleRef[] | undefined;
  try {
    const s = splitTrainData(data, "auto", { seed: 0, testFraction: 0.2 });
    if (s.source === "split.json") chosen = s.test.map((i) => data.samples[i] as SampleRef);
  } catch (error) {
    if (split === "test") throw error;
  }
  if (chosen !== undefined) return { samples: chosen, description: "split.json test" };
  if (split === "test") {
    throw new InferenceError(`${data.dir}: no split.json, so there is no test part; use --split all`);
  }
  return { samples: data.samples, description: "all" };
}

/**
 * Evaluates `model` on the labels.txt dataset in `dataDir`.
 * @throws DataError for an unreadable dataset or labels the model does not know; InferenceError when
 *   the dataset's source count differs from the model's
 */
export async function evaluate(
  model: StemscopeModel,
  dataDir: string,
  options: EvaluateOptions = {},
): Promise<EvalMetrics> {
  const t0 = performance.now();
  const data = readTrainData(dataDir);
  for (const sample of data.samples) {
    const unknown = sample.labels.find((l) => !model.classes.includes(l));
    if (unknown !== undefined) {
      throw new InferenceError(
        `${data.labelsPath}:${sample.line}: label "${unknown}" is not a class of the model ${model.dir} (${model.classes.join(", ")})`,
      );
    }
  }
  const k = model.sources;
  if (data.sources !== k) {
    throw new InferenceError(
      `${data.labelsPath}: samples have ${data.sources} sources, but the model ${model.dir} separates ${k}`,
    );
  }
  const { samples: all, description } = evaluationSamples(data, options.split ?? "auto");
  const samples = options.limit !== undefined ? all.slice(0, Math.max(1, options.limit)) : all;
  const features = model.features;
  const extractor = getExtractor(features);
  const { nMels, size } = features;
  const cell = nMels * size;
  const c = model.classes.length;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 16));
  const wantAudio = options.audio ?? true;

  let correctFixed = 0;
  let correctAligned = 0;
  let exact = 0;
  let namedCorrect = 0;
  let namedExact = 0;
  let mseFixed = 0;
  let mseAligned = 0;
  const truth: number[] = [];
  const predicted: number[] = [];
  const sdrs: number[] = [];
  const siSdrs: number[] = [];
  const mixSiSdrs: number[] = [];
  const improvements: number[] = [];
  const byClass = model.classes.map(() => ({ siSdr: [] as number[], imp: [] as number[] }));

  for (let b0 = 0; b0 < samples.length; b0 += batchSize) {
    const batch = samples.slice(b0, b0 + batchSize);
    const loaded = await Promise.all(
      batch.map(async (s) => {
        const read = async (p: string): Promise<Float32Array> =>
          fixLength((await loadAudio(p, { sampleRate: features.sampleRate })).samples, extractor.length);
        return { mixture: await read(s.mixed), sources: await Promise.all(s.sources.map(read)) };
      }),
    );
    const input = new Float32Array(batch.length * cell);
    const refs = loaded.map((l, i) => {
      const f = sampleFeatures(l.mixture, l.sources, features);
      input.set(f[0] as Float32Array, i * cell);
      return f.slice(1);
    });
    const out = noGrad(() =>
      tidy(() => {
        const y = model.model.forward(
          tensor(input, [batch.length, 1, nMels, size]).contiguous("channels_last"),
        );
        return {
          probs: F.softmax(y.logits.float(), 2).toFloat32Array(),
          sep: y.separated.float().contiguous().toFloat32Array(),
        };
      }),
    );
    batch.forEach((sample, i) => {
      const labels = sample.labels.map((l) => model.classes.indexOf(l));
      const separated = Array.from({ length: k }, (_, s) =>
        out.sep.subarray((i * k + s) * cell, (i * k + s + 1) * cell),
      );
      const preds = Array.from({ length: k }, (_, s) => {
        let best = 0;
        for (let j = 1; j < c; j++)
          if ((out.probs[(i * k + s) * c + j] as number) > (out.probs[(i * k + s) * c + best] as number))
            best = j;
        return best;
      });
      const ref = refs[i] as Float32Array[];
      const cost = separated.map((sep) => ref.map((r) => meanSquaredError(sep, r)));
      const perm = bestAssignment(cost);
      for (let s = 0; s < k; s++) {
        if (preds[s] === labels[s]) correctFixed++;
        const j = perm[s] as number;
        if (preds[s] === labels[j]) correctAligned++;
        truth.push(labels[j] as number);
        predicted.push(preds[s] as number);
        mseFixed += (cost[s] as number[])[s] as number;
        mseAligned += (cost[s] as number[])[j] as number;
      }
      if (sameLabels(preds, labels)) exact++;
      const named = namedClasses(out.probs.subarray(i * k * c, (i + 1) * k * c), k, c);
      const matched = matchedLabels(named, labels);
      namedCorrect += matched;
      if (matched === k) namedExact++;
      if (wantAudio) {
        const l = loaded[i] as { mixture: Float32Array; sources: Float32Array[] };
        const stems = separateClip(l.mixture, separated, features);
        for (let s = 0; s < k; s++) {
          const j = perm[s] as number;
          const scores = sourceAudioScores(stems[s] as Float32Array, l.sources[j] as Float32Array, l.mixture);
          sdrs.push(scores.sdr);
          siSdrs.push(scores.siSdr);
          mixSiSdrs.push(scores.mixtureSiSdr);
          improvements.push(scores.siSdrImprovement);
          const entry = byClass[labels[j] as number];
          entry?.siSdr.push(scores.siSdr);
          entry?.imp.push(scores.siSdrImprovement);
        }
      }
    });
    options.onProgress?.(Math.min(samples.length, b0 + batch.length), samples.length);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const n = samples.length;
  const counts = confusionMatrix(truth, predicted, c);
  const scores = classificationScores(counts);
  const perClass: EvalMetrics["classification"]["perClass"] = {};
  model.classes.forEach((name, i) => {
    perClass[name] = scores.perClass[i] as { precision: number; recall: number; f1: number; support: number };
  });
  const metrics: EvalMetrics = {
    formatVersion: EVAL_FORMAT_VERSION,
    model: model.dir,
    data: dataDir,
    split: description,
    samples: n,
    sources: k,
    classes: model.classes,
    classification: {
      perSourceAccuracy: correctFixed / (n * k),
      perSourceAccuracyAligned: correctAligned / (n * k),
      pairExactMatch: exact / n,
      namedAccuracy: namedCorrect / (n * k),
      namedExactMatch: namedExact / n,
      macroF1: scores.macroF1,
      microF1: scores.microF1,
      perClass,
      confusionMatrix: counts,
    },
    separation: { spectrogramMse: mseFixed / (n * k), spectrogramMseAligned: mseAligned / (n * k) },
    seconds: 0,
  };
  if (wantAudio) {
    const audioPerClass: Record<string, { siSdr: number; siSdrImprovement: number; count: number }> = {};
    model.classes.forEach((name, i) => {
      const e = byClass[i] as { siSdr: number[]; imp: number[] };
      if (e.siSdr.length === 0) return;
      audioPerClass[name] = {
        siSdr: finiteMean(e.siSdr).mean,
        siSdrImprovement: finiteMean(e.imp).mean,
        count: e.siSdr.length,
      };
    });
    metrics.separation.audio = {
      sdr: dbSummary(sdrs),
      siSdr: dbSummary(siSdrs),
      mixtureSiSdr: dbSummary(mixSiSdrs),
      siSdrImprovement: dbSummary(improvements),
      perClass: audioPerClass,
    };
  }
  metrics.seconds = (performance.now() - t0) / 1000;
  return metrics;
}
