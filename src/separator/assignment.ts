/**
 * The one best-assignment helper: which of K estimates goes with which of K targets. PIT (training),
 * eval's aligned metrics (least spectrogram MSE) and separate's stem naming (most probable class)
 * all call {@link bestAssignment}; K is small (2–4), so every permutation is tried.
 */

/** Every permutation of 0 … k−1, in lexicographic order (the identity first). */
export function permutations(k: number): number[][] {
  if (!Number.isInteger(k) || k < 1 || k > 8) throw new RangeError(`permutations: k must be 1…8, got ${k}`);
  const out: number[][] = [];
  const rec = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) {
      out.push(prefix);
      return;
    }
    rest.forEach((r, i) => rec([...prefix, r], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  rec(
    [],
    Array.from({ length: k }, (_, i) => i),
  );
  return out;
}

const permutationCache = new Map<number, number[][]>();

/**
 * The assignment π minimising Σ_i cost[i][π[i]]: row i (an estimate) goes with column π[i] (a
 * target). Ties (within 1e-12) keep the earlier permutation in {@link permutations} order, so the
 * identity wins a tie. To maximise a score, pass its negation.
 * @param cost [K][K] cost of pairing row i with column j
 * @returns π, a permutation of 0 … K−1
 */
export function bestAssignment(cost: readonly ArrayLike<number>[]): number[] {
  const k = cost.length;
  let perms = permutationCache.get(k);
  if (perms === undefined) {
    perms = permutations(k);
    permutationCache.set(k, perms);
  }
  let best = perms[0]!;
  let bestCost = Infinity;
  for (const perm of perms) {
    let c = 0;
    for (let i = 0; i < k; i++) c += cost[i]![perm[i]!]!;
    if (c < bestCost - 1e-12) {
      bestCost = c;
      best = perm;
    }
  }
  return [...best];
}
