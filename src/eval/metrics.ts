/**
 * Evaluation metrics: classification (per-source accuracy, order-free pair exact match, confusion
 * matrix, per-class precision / recall / F1, macro and micro F1), spectrogram MSE, and audio
 * separation quality (SDR, SI-SDR and its improvement over the mixture, SI-SDRi).
 *
 * All functions are pure and work on plain arrays, so they can be checked against hand-computed
 * cases (test/metrics.test.ts). The naming rules (named classes, label matching) and the best
 * assignment of outputs to references live in src/separator/.
 */
import { bestAssignment } from "../separator/assignment.js";
import { median } from "../util/stats.js";

/** SDR and SI-SDR values are capped at this many dB (a perfect estimate would be +∞). */
export const SDR_CAP_DB = 100;

// ---------------------------------------------------------------- classification

/**
 * A confusion matrix: `counts[t][p]` = how many items of true class t were predicted as class p.
 * @param truth true class index of each item, in [0, numClasses)
 * @param predicted predicted class index of each item, same length
 * @returns [numClasses][numClasses] counts
 */
export function confusionMatrix(
  truth: readonly number[],
  predicted: readonly number[],
  numClasses: number,
): number[][] {
  if (truth.length !== predicted.length)
    throw new RangeError(`confusionMatrix: ${truth.length} true labels but ${predicted.length} predictions`);
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const p = predicted[i] as number;
    if (!(t >= 0 && t < numClasses && p >= 0 && p < numClasses && Number.isInteger(t) && Number.isInteger(p)))
      throw new RangeError(
        `confusionMatrix: item ${i} has class ${t} → ${p}, expected integers in [0, ${numClasses})`,
      );
    (counts[t] as number[])[p] = ((counts[t] as number[])[p] as number) + 1;
  }
  return counts;
}

/** Precision, recall, F1 and support of one class. */
export interface ClassScores {
  /** TP / (TP + FP); 0 when the class was never predicted. */
  precision: number;
  /** TP / (TP + FN); 0 when the class never occurs. */
  recall: number;
  /** 2PR / (P + R); 0 when P + R = 0. */
  f1: number;
  /** Number of true items of the class (TP + FN). */
  support: number;
}

/** Everything derived from one confusion matrix. */
export interface ClassificationScores {
  /** Fraction of items on the diagonal. */
  accuracy: number;
  /** One entry per class, in class order. */
  perClass: ClassScores[];
  /** Unweighted mean of per-class F1 over the classes that occur or are predicted (sklearn's macro, labels = present ones). */
  macroF1: number;
  /** F1 of the pooled TP / FP / FN counts; equals accuracy for single-label items. */
  microF1: number;
}

/**
 * Precision / recall / F1 per class, macro and micro F1, and accuracy from a confusion matrix
 * (conventions of sklearn.metrics with zero_division=0; macro averages over classes that appear in
 * the truth or the predictions, like sklearn with the default `labels`).
 */
export function classificationScores(counts: readonly (readonly number[])[]): ClassificationScores {
  const n = counts.length;
  let total = 0;
  let diagonal = 0;
  const perClass: ClassScores[] = [];
  let tpAll = 0;
  let fpAll = 0;
  let fnAll = 0;
  let macroSum = 0;
  let macroCount = 0;
  for (let c = 0; c < n; c++) {
    const row = counts[c] as readonly number[];
    const tp = row[c] as number;
    let rowSum = 0;
    let colSum = 0;
    for (let j = 0; j < n; j++) {
      rowSum += row[j] as number;
      colSum += (counts[j] as readonly number[])[c] as number;
    }
    total += rowSum;
    diagonal += tp;
    const fp = colSum - tp;
    const fn = rowSum - tp;
    tpAll += tp;
    fpAll += fp;
    fnAll += fn;
    const precision = colSum > 0 ? tp / colSum : 0;
    const recall = rowSum > 0 ? tp / rowSum : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support: rowSum });
    if (rowSum > 0 || colSum > 0) {
      macroSum += f1;
      macroCount++;
    }
  }
  const microF1 = 2 * tpAll + fpAll + fnAll > 0 ? (2 * tpAll) / (2 * tpAll + fpAll + fnAll) : 0;
  return {
    accuracy: total > 0 ? diagonal / total : 0,
    perClass,
    macroF1: macroCount > 0 ? macroSum / macroCount : 0,
    microF1,
  };
}

// ---------------------------------------------------------------- spectrograms

/** Mean squared difference of two equally long arrays (the seed's spectrogram MSE). */
export function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new RangeError(`meanSquaredError: lengths differ (${a.length} vs ${b.length})`);
  if (a.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    s += d * d;
  }
  return s / a.length;
}

// ---------------------------------------------------------------- audio

function ratioDb(signal: number, noise: number): number {
  if (!(signal > 0)) return Number.NaN;
  if (noise <= signal * Math.pow(10, -SDR_CAP_DB / 10)) return SDR_CAP_DB;
  return Math.min(SDR_CAP_DB, 10 * Math.log10(signal / noise));
}

function checkLengths(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`${what}: lengths differ (${a.length} vs ${b.length})`);
}

/** Σ a·b (float64 sums). */
function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

// Both metrics from the sums ‖s‖², ‖ŝ‖², ⟨s, ŝ⟩ (one pass over the samples): ‖s − ŝ‖² =
// ‖s‖² − 2⟨s, ŝ⟩ + ‖ŝ‖², and with α = ⟨s, ŝ⟩ / ‖s‖², ‖α·s − ŝ‖² = ‖ŝ‖² − α⟨s, ŝ⟩ (≥ 0 up to round-off,
// which only matters at the cap).

/** SDR in dB from ‖s‖², ‖ŝ‖² and ⟨s, ŝ⟩. */
function sdrOfSums(refEnergy: number, estEnergy: number, cross: number): number {
  return ratioDb(refEnergy, Math.max(0, refEnergy - 2 * cross + estEnergy));
}

/** SI-SDR in dB from ‖s‖², ‖ŝ‖² and ⟨s, ŝ⟩. */
function siSdrOfSums(refEnergy: number, estEnergy: number, cross: number): number {
  if (!(refEnergy > 0)) return Number.NaN;
  const alpha = cross / refEnergy;
  const target = alpha * alpha * refEnergy;
  if (!(target > 0)) return -SDR_CAP_DB;
  return Math.max(-SDR_CAP_DB, ratioDb(target, Math.max(0, estEnergy - alpha * cross)));
}

/**
 * Signal-to-distortion ratio 10·log10(‖s‖² / ‖s − ŝ‖²) in dB (the plain, non-scale-invariant SDR
 * used by e.g. the MDX challenge), capped at {@link SDR_CAP_DB}. NaN when the reference is silent.
 * @param estimate ŝ, samples
 * @param reference s, same length
 */
export function sdr(estimate: ArrayLike<number>, reference: ArrayLike<number>): number {
  checkLengths("sdr", estimate, reference);
  return sdrOfSums(dot(reference, reference), dot(estimate, estimate), dot(reference, estimate));
}

/**
 * Scale-invariant SDR (Le Roux et al. 2019, "SDR – half-baked or well done?"), in dB:
 * with α = ⟨ŝ, s⟩ / ‖s‖², target = α·s, SI-SDR = 10·log10(‖α·s‖² / ‖α·s − ŝ‖²). No mean removal.
 * A scaled copy of the reference gives {@link SDR_CAP_DB}; s + n with n ⟂ s gives 10·log10(‖s‖²/‖n‖²).
 * NaN when the reference is silent; −{@link SDR_CAP_DB} when the estimate is orthogonal to it.
 */
export function siSdr(estimate: ArrayLike<number>, reference: ArrayLike<number>): number {
  checkLengths("siSdr", estimate, reference);
  return siSdrOfSums(dot(reference, reference), dot(estimate, estimate), dot(reference, estimate));
}

/** Separation scores of one estimated source against its reference. */
export interface SourceAudioScores {
  /** dB, see {@link sdr}. */
  sdr: number;
  /** dB, see {@link siSdr}. */
  siSdr: number;
  /** SI-SDR of the unprocessed mixture against the same reference, dB. */
  mixtureSiSdr: number;
  /** siSdr − mixtureSiSdr, dB: what separation gained. */
  siSdrImprovement: number;
}

/**
 * {@link sdr}, {@link siSdr} and the SI-SDR improvement over the mixture for one source, from one
 * pass over the three signals.
 */
export function sourceAudioScores(
  estimate: ArrayLike<number>,
  reference: ArrayLike<number>,
  mixture: ArrayLike<number>,
): SourceAudioScores {
  checkLengths("sourceAudioScores (estimate, reference)", estimate, reference);
  checkLengths("sourceAudioScores (mixture, reference)", mixture, reference);
  let ss = 0;
  let ee = 0;
  let mm = 0;
  let se = 0;
  let sm = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    const e = estimate[i] as number;
    const m = mixture[i] as number;
    ss += r * r;
    ee += e * e;
    mm += m * m;
    se += r * e;
    sm += r * m;
  }
  const s = siSdrOfSums(ss, ee, se);
  const mix = siSdrOfSums(ss, mm, sm);
  return { sdr: sdrOfSums(ss, ee, se), siSdr: s, mixtureSiSdr: mix, siSdrImprovement: s - mix };
}

/**
 * The order-free pairing of K estimates with K references: the permutation with the highest total
 * SI-SDR (so the highest total SI-SDRi too, since the mixture's terms sum to the same in every order),
 * as permutation-invariant separation is scored. A non-finite SI-SDR (a silent reference) counts as
 * the lowest SI-SDR there is, −{@link SDR_CAP_DB}, the same in every order, so it never decides it.
 * @param scores [K][K]: scores[k][j] of estimate k against reference j
 * @returns π: estimate k goes with reference π[k]
 */
export function bestSiSdrOrder(scores: readonly (readonly SourceAudioScores[])[]): number[] {
  return bestAssignment(
    scores.map((row) => row.map((x) => (Number.isFinite(x.siSdr) ? -x.siSdr : SDR_CAP_DB))),
  );
}

// ---------------------------------------------------------------- summaries

/** Mean of the finite values (NaN when there are none) and how many there were. */
export function finiteMean(values: readonly number[]): { mean: number; count: number } {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return { mean: n > 0 ? s / n : Number.NaN, count: n };
}

/** Median of the finite values (NaN when there are none). */
export function finiteMedian(values: readonly number[]): number {
  return median(values.filter((x) => Number.isFinite(x)));
}
