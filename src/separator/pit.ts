/**
 * Permutation-invariant training (PIT; Yu et al. 2017, "Permutation invariant training of deep
 * models for speaker-independent multi-talker speech separation"): for each sample, the order of the
 * K separated outputs that minimises the separation loss against the K reference sources is found
 * ({@link bestAssignment}), and outputs and logits are reordered to it before the loss.
 */
import { noGrad, type Tensor, tensor, tidy } from "../engine/index.js";
import { type JointOutput, shareTerms } from "../model/joint.js";
import { bestAssignment } from "./assignment.js";

/**
 * Pairwise separation errors: cost[b][i][j] = mean over H·W of (separated[b, i] − sources[b, j])².
 * @param separated [B, K, H, W]
 * @param sources [B, K, H, W]
 * @returns B arrays of K·K numbers (row i = output i, column j = source j)
 */
export function pairwiseMse(separated: Tensor, sources: Tensor): Float32Array[] {
  return perSample(separated, () => {
    const s = separated.detach().float().unsqueeze(2); // [B, K, 1, H, W]
    const t = sources.unsqueeze(1); // [B, 1, K, H, W]
    return s.sub(t).square().mean([3, 4]);
  });
}

/**
 * Pairwise share errors, the terms of the `shares` separation loss (src/model/joint.ts): cost[b][i][j]
 * = mean over H·W of w·(s_i − r_j)², s the separated planes' shares, r the references' ideal shares,
 * w the mixture's magnitude weight. The loss of an order is the sum of its pairs' costs (over K), so
 * the best order by these costs is the one with the least training loss.
 * @param separated [B, K, H, W]
 * @param sources [B, K, H, W]
 * @param mixture [B, 1, H, W] native features
 * @param topDb the features' dynamic range, dB
 * @returns B arrays of K·K numbers (row i = output i, column j = source j)
 */
export function pairwiseShares(
  separated: Tensor,
  sources: Tensor,
  mixture: Tensor,
  topDb: number,
): Float32Array[] {
  return perSample(separated, () => {
    const { shares, ideal, weight } = shareTerms(
      separated.detach(),
      { sources, mixture },
      topDb,
      "pairwiseShares",
    );
    const s = shares.unsqueeze(2); // [B, K, 1, H, W]
    const r = ideal.unsqueeze(1); // [B, 1, K, H, W]
    return s.sub(r).square().mul(weight.unsqueeze(1)).mean([3, 4]);
  });
}

/**
 * Runs a pairwise cost computation without gradients and splits its [B, K, K] result by sample.
 * @param separated [B, K, H, W], for B and K
 * @returns B arrays of K·K numbers
 */
function perSample(separated: Tensor, costs: () => Tensor): Float32Array[] {
  const [b, k] = separated.shape as [number, number];
  const values = noGrad(() => tidy(() => costs().toFloat32Array()));
  return Array.from({ length: b }, (_, i) => values.subarray(i * k * k, (i + 1) * k * k));
}

/**
 * The best assignment per sample: perm[b][j] = the output used for source j, minimising
 * Σ_j cost[b][perm[j]][j]. Ties keep the identity.
 * @param costs from {@link pairwiseMse}: B arrays of K·K
 */
export function bestPermutations(costs: Float32Array[], k: number): number[][] {
  // Rows are sources here (source j picks an output), so the cost matrix is read transposed.
  return costs.map((cost) =>
    bestAssignment(
      Array.from({ length: k }, (_, j) => Array.from({ length: k }, (_, i) => cost[i * k + j]!)),
    ),
  );
}

/**
 * Reorders the model's outputs per sample: separated[b, j] ← separated[b, perm[b][j]] and the same for
 * logits (gather, so gradients flow back to the chosen outputs).
 * @param perms B permutations of 0 … K−1
 */
export function applyPermutations(output: JointOutput, perms: number[][]): JointOutput {
  const [b, k, h, w] = output.separated.shape as [number, number, number, number];
  const classes = output.logits.dim(2);
  const index = tensor(
    BigInt64Array.from(perms.flat(), (v) => BigInt(v)),
    [b, k],
  );
  const separated = output.separated.gather(1, index.reshape([b, k, 1, 1]).expand([b, k, h, w]));
  const logits = output.logits.gather(1, index.reshape([b, k, 1]).expand([b, k, classes]));
  return { separated, logits };
}

/**
 * PIT in one call: the per-sample best order, applied to outputs and logits. The order is the one with
 * the least separation loss: by the share errors when `shares` is given (the `shares` loss), else by
 * MSE (the `mse` loss).
 * @param sources reference sources [B, K, H, W]
 * @param shares the mixture features [B, 1, H, W] and topDb, for the `shares` loss
 * @returns the reordered output and the permutations chosen
 */
export function permuteToSources(
  output: JointOutput,
  sources: Tensor,
  shares?: { mixture: Tensor; topDb: number },
): { output: JointOutput; perms: number[][] } {
  const k = output.separated.dim(1);
  const costs =
    shares === undefined
      ? pairwiseMse(output.separated, sources)
      : pairwiseShares(output.separated, sources, shares.mixture, shares.topDb);
  const perms = bestPermutations(costs, k);
  const identity = perms.every((p) => p.every((v, i) => v === i));
  return { output: identity ? output : applyPermutations(output, perms), perms };
}
