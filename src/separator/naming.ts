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
