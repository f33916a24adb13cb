/**
 * The naming rules: how the K separated sources' class probabilities become named instruments.
 * predict, separate, eval and the trainer's validation all use these, so "named" means one thing:
 * - per source k, p_k = softmax(logits_k) over the classes, and its class is argmax p_k;
 * - the probability that class c plays is 1 − Π_k (1 − p_k(c)) (at least one source is c, if the
 *   sources' predictions were independent);
 * - the K named instruments of a mixture are the K classes of highest play probability.
 */

/**
 * Softmax over the last axis of row-major logits.
 * @param logits [rows, classes]
 * @returns [rows, classes] probabilities (each row sums to 1)
 */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const rows = logits.length / classes;
  const out = new Float64Array(logits.length);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(logits[r * classes + c]! - max);
      out[r * classes + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c++) out[r * classes + c] = out[r * classes + c]! / sum;
  }
  return out;
}

/**
 * The most likely class of each source (argmax; ties: the lower class index).
 * @param probabilities [K, classes] per-source class probabilities (or logits), row-major
 * @returns K class indices, in source order
 */
export function sourceClasses(probabilities: ArrayLike<number>, classes: number): number[] {
  const k = probabilities.length / classes;
  return Array.from({ length: k }, (_, s) => {
    let best = 0;
    for (let j = 1; j < classes; j++)
      if (probabilities[s * classes + j]! > probabilities[s * classes + best]!) best = j;
    return best;
  });
}

/**
 * The probability that each class plays in a window, 1 − Π_k (1 − p_k(c)), i.e. that at least one
 * of the K sources is that class if the sources' predictions were independent.
 * @param probabilities [K, classes] per-source class probabilities (rows of softmax outputs)
 * @returns [classes]
 */
export function playProbabilities(probabilities: ArrayLike<number>, classes: number): Float64Array {
  const k = probabilities.length / classes;
  const out = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    let none = 1;
    for (let s = 0; s < k; s++) none *= 1 - probabilities[s * classes + c]!;
    out[c] = 1 - none;
  }
  return out;
}

/** A class name with a probability. */
export interface InstrumentProbability {
  name: string;
  probability: number;
}

/** Names with probabilities, sorted by probability (highest first; ties by class order). */
export function rankInstruments(
  probabilities: ArrayLike<number>,
  classes: readonly string[],
): InstrumentProbability[] {
  return classes
    .map((name, i) => ({ name, probability: probabilities[i]!, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .map(({ name, probability }) => ({ name, probability }));
}

/**
 * The K instruments a model names for one mixture, as `predict` names them: the K classes with the
 * highest play probability 1 − Π_k (1 − p_k(class)) (ties: the lower class index), in ascending class
 * index (= the alphabetical label order of labels.txt).
 * @param probabilities [K, classes] softmax probabilities of the K separated sources, row-major
 * @returns K distinct class indices, ascending
 */
export function namedClasses(probabilities: ArrayLike<number>, sources: number, classes: number): number[] {
  if (probabilities.length !== sources * classes) {
    throw new RangeError(
      `namedClasses: ${probabilities.length} probabilities, expected sources × classes = ${sources * classes}`,
    );
  }
  const play = playProbabilities(probabilities, classes);
  const order = Array.from({ length: classes }, (_, c) => c).sort((a, b) => play[b]! - play[a]! || a - b);
  return order.slice(0, Math.min(sources, classes)).sort((a, b) => a - b);
}

/**
 * How many of the true labels are among the predicted ones, as multisets (order-free): the number of
 * sources named correctly. `matchedLabels([1, 4], [4, 7])` = 1.
 */
export function matchedLabels(predicted: readonly number[], truth: readonly number[]): number {
  const left = [...predicted];
  let matched = 0;
  for (const t of truth) {
    const i = left.indexOf(t);
    if (i >= 0) {
      matched++;
      left.splice(i, 1);
    }
  }
  return matched;
}

/**
 * Whether two label lists hold the same labels regardless of order (multiset equality): the
 * "pair exact match" of a two-source mixture is `sameLabels(predicted, truth)`.
 */
export function sameLabels(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && matchedLabels(a, b) === a.length;
}

/**
 * The "no instrument" rule of a model folder (config.json `naming.none`, see src/model/folder.ts):
 * which statistic of the model's outputs says that a file holds none of the classes, and where.
 */
export interface NoneRule {
  /** `play`: the file's highest play probability; `entropy`: the sources' mean normalised entropy. */
  statistic: "play" | "entropy";
  /** `play` below it, or `entropy` above it: no instrument. */
  threshold: number;
}

/**
 * The mean over the K sources of the class entropy H(p_k) / ln(classes): 0 when every source is
 * sure of one class, 1 when every source's probabilities are uniform.
 * @param probabilities [K, classes] softmax probabilities, row-major
 */
export function sourceEntropy(probabilities: ArrayLike<number>, classes: number): number {
  const k = probabilities.length / classes;
  let total = 0;
  for (let s = 0; s < k; s++) {
    for (let c = 0; c < classes; c++) {
      const p = probabilities[s * classes + c]!;
      if (p > 0) total -= p * Math.log(p);
    }
  }
  return total / (k * Math.log(classes));
}

/**
 * The value of a {@link NoneRule}'s statistic for one file.
 * @param summary [classes] the file-level play probabilities (the windows' summary)
 * @param windows per counted (audible) window, [K, classes] softmax probabilities
 */
export function noneStatistic(
  statistic: NoneRule["statistic"],
  summary: ArrayLike<number>,
  windows: readonly ArrayLike<number>[],
  classes: number,
): number {
  if (statistic === "play") {
    let best = 0;
    for (let c = 0; c < classes; c++) best = Math.max(best, summary[c]!);
    return best;
  }
  let total = 0;
  for (const w of windows) total += sourceEntropy(w, classes);
  return windows.length > 0 ? total / windows.length : 1;
}

/** Whether a file whose statistic is `value` holds no instrument under `rule`. */
export function rejectsAsNone(rule: NoneRule, value: number): boolean {
  return rule.statistic === "play" ? value < rule.threshold : value > rule.threshold;
}

/** A threshold chosen from measurements, and how it sorts them. */
export interface NoneCalibration extends NoneRule {
  music: number;
  /** Music files still named (never rejected) at the threshold. */
  musicNamed: number;
  nonMusic: number;
  nonMusicRejected: number;
}

/**
 * The threshold of `statistic` that keeps every music file named and rejects as many non-music files
 * as that allows: halfway between the least music-like music value and the most music-like non-music
 * value beyond it (a music file is never rejected, so the rule cannot make today's names worse); when
 * no non-music value lies beyond every music value, a threshold that rejects nothing.
 * @param music the statistic of each music file (at least one)
 * @param nonMusic the statistic of each non-music file
 */
export function chooseNoneThreshold(
  statistic: NoneRule["statistic"],
  music: readonly number[],
  nonMusic: readonly number[],
): NoneCalibration {
  if (music.length === 0) throw new RangeError("chooseNoneThreshold: no music values");
  // Mirror entropy so that, for both statistics, lower means "less like music".
  const sign = statistic === "play" ? 1 : -1;
  const edge = Math.min(...music.map((v) => sign * v));
  const below = nonMusic.map((v) => sign * v).filter((v) => v < edge);
  // Nothing to reject without dropping music: a threshold that rejects nothing (play 0, entropy 1).
  const mirrored = below.length > 0 ? (edge + Math.max(...below)) / 2 : sign === 1 ? 0 : -1;
  const threshold = sign * mirrored;
  const rule = { statistic, threshold };
  return {
    ...rule,
    music: music.length,
    musicNamed: music.filter((v) => !rejectsAsNone(rule, v)).length,
    nonMusic: nonMusic.length,
    nonMusicRejected: nonMusic.filter((v) => rejectsAsNone(rule, v)).length,
  };
}
