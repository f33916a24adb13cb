/**
 * Two test-time naming rules measured against predict's (`scripts/naming-rules.ts`, docs/quality.md
 * "Other naming rules on unheard timbres"); neither is used by predict or eval:
 * - fusion: the separated sources' play probabilities (normalised to sum 1) averaged with the
 *   classifier's probabilities for the whole mixture;
 * - class-prior correction: class weights that make the reweighted per-source probabilities average
 *   1/C per class on a calibration set (the EM prior re-estimation of Saerens et al. 2002 with a
 *   uniform target), applied to every source before predict's rule.
 */
import { playProbabilities } from "../separator/naming.js";
import { topClasses } from "./ceiling.js";

/**
 * The K classes of highest fused score (1 − w) · play(c) / Σ play + w · p_mixture(c) (ties: the lower
 * class index), ascending; w = 0 is predict's rule, w = 1 the mixture's K most probable classes.
 * @param separated [K, classes] softmax probabilities of the separated sources, row-major
 * @param mixture [classes] the classifier's probabilities for the mixture itself
 * @param weight w, 0–1
 */
export function fusedClasses(
  separated: ArrayLike<number>,
  mixture: ArrayLike<number>,
  sources: number,
  classes: number,
  weight: number,
): number[] {
  const play = playProbabilities(separated, classes);
  const total = play.reduce((a, b) => a + b, 0);
  const score = Array.from(
    { length: classes },
    (_, c) => ((1 - weight) * play[c]!) / (total > 0 ? total : 1) + weight * mixture[c]!,
  );
  return topClasses(score, sources);
}

/**
 * Rows of probabilities multiplied by class weights and renormalised: p'_c = w_c p_c / Σ_j w_j p_j.
 * @param probabilities [rows, classes] row-major
 * @returns [rows, classes]
 */
export function reweightRows(probabilities: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const classes = weights.length;
  const out = new Float64Array(probabilities.length);
  for (let r = 0; r < probabilities.length / classes; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++)
      sum += out[r * classes + c] = probabilities[r * classes + c]! * weights[c]!;
    for (let c = 0; c < classes; c++)
      out[r * classes + c] = sum > 0 ? out[r * classes + c]! / sum : 1 / classes;
  }
  return out;
}

/**
 * Class weights (mean 1) under which the reweighted rows ({@link reweightRows}) average 1/C for every
 * class: w_c ← w_c · (1/C) / mean_c, repeated `iterations` times from w = 1.
 * @param probabilities [rows, classes] row-major, e.g. every separated source of a calibration set
 */
export function equalisingWeights(
  probabilities: ArrayLike<number>,
  classes: number,
  iterations = 50,
): Float64Array {
  const rows = probabilities.length / classes;
  let weights = new Float64Array(classes).fill(1);
  for (let it = 0; it < iterations; it++) {
    const mean = new Float64Array(classes);
    const q = reweightRows(probabilities, weights);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < classes; c++) mean[c] = mean[c]! + q[r * classes + c]! / rows;
    weights = weights.map((w, c) => (mean[c]! > 0 ? w / (classes * mean[c]!) : w));
    const average = weights.reduce((a, b) => a + b, 0) / classes;
    weights = weights.map((w) => w / average);
  }
  return weights;
}
