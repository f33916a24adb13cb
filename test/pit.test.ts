// PIT: the permutation search and its application to the model's outputs, on constructed cases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { liveTensorCount, tensor, tidy } from "../src/engine/index.js";
import { permutations } from "../src/separator/assignment.js";
import { sharesLoss } from "../src/model/index.js";
import {
  applyPermutations,
  bestPermutations,
  pairwiseMse,
  pairwiseShares,
  permuteToSources,
} from "../src/separator/pit.js";
import { lcgNoise } from "./feature-helpers.js";

test("permutations: all K! orders, identity first", () => {
  assert.deepEqual(permutations(2), [
    [0, 1],
    [1, 0],
  ]);
  const p3 = permutations(3);
  assert.equal(p3.length, 6);
  assert.deepEqual(p3[0], [0, 1, 2]);
  assert.equal(new Set(p3.map((p) => p.join())).size, 6);
  assert.equal(permutations(4).length, 24);
});

test("PIT picks the order that matches each output to its source, per sample, and reorders outputs and logits", () => {
  const before = liveTensorCount();
  tidy(() => {
    // B = 2, K = 3, H = W = 2. Sources are constant planes 0, 1, 2 (+ a per-sample offset).
    // Sample 0's outputs are the sources in order (2, 0, 1) plus small noise; sample 1's in order.
    const h = 2;
    const w = 2;
    const src: number[] = [];
    const sep: number[] = [];
    const order = [
      [2, 0, 1],
      [0, 1, 2],
    ];
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 3; k++) for (let i = 0; i < h * w; i++) src.push(k + 10 * b);
      for (let k = 0; k < 3; k++)
        for (let i = 0; i < h * w; i++) sep.push(order[b]![k]! + 10 * b + 0.01 * (i - 1.5));
    }
    const sources = tensor(src, [2, 3, h, w]);
    const separated = tensor(sep, [2, 3, h, w]);
    // logits: output k of sample b has a one-hot on class order[b][k], so after reordering the logits
    // of source j point at class j.
    const logitValues: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let k = 0; k < 3; k++) for (let c = 0; c < 3; c++) logitValues.push(c === order[b]![k] ? 5 : 0);
    const logits = tensor(logitValues, [2, 3, 3]);

    const costs = pairwiseMse(separated, sources);
    // cost[i][j] = mean((sep_i − src_j)²): output 0 of sample 0 holds source 2 → cost[0][2] ≈ 0, cost[0][0] ≈ 4.
    assert.ok(costs[0]![0 * 3 + 2]! < 1e-3);
    assert.ok(Math.abs(costs[0]![0 * 3 + 0]! - 4) < 1e-2);
    // perm[j] = output holding source j: source 0 is in output 1, source 1 in output 2, source 2 in output 0.
    assert.deepEqual(bestPermutations(costs, 3), [
      [1, 2, 0],
      [0, 1, 2],
    ]);
    const { output, perms } = permuteToSources({ separated, logits }, sources);
    assert.deepEqual(perms, [
      [1, 2, 0],
      [0, 1, 2],
    ]);
    const reordered = output.separated.toArray();
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 3; k++) {
        for (let i = 0; i < h * w; i++) {
          const v = reordered[((b * 3 + k) * h + Math.floor(i / w)) * w + (i % w)]!;
          assert.ok(Math.abs(v - (k + 10 * b)) < 0.02, `sample ${b} source ${k}: ${v}`);
        }
      }
    }
    assert.deepEqual(output.logits.argmax(2).toArray(), [0, 1, 2, 0, 1, 2]);
  });
  assert.equal(liveTensorCount(), before, "PIT leaked tensors");
});

test("PIT gradients flow to the chosen outputs only through the permutation", () => {
  const before = liveTensorCount();
  tidy(() => {
    const separated = tensor([1, 2, 3, 4], [1, 2, 1, 2]).setRequiresGrad(true);
    const logits = tensor([0, 1, 1, 0], [1, 2, 2]).setRequiresGrad(true);
    const out = applyPermutations({ separated, logits }, [[1, 0]]);
    assert.deepEqual(out.separated.toArray(), [3, 4, 1, 2]);
    // d/dsep of Σ (weights · permuted) with weights [1,1,10,10] → output 1 gets 1s, output 0 gets 10s.
    out.separated
      .mul(tensor([1, 1, 10, 10], [1, 2, 1, 2]))
      .sum()
      .backward();
    assert.deepEqual(separated.grad!.toArray(), [10, 10, 1, 1]);
  });
  assert.equal(liveTensorCount(), before);
});

test("PIT by share errors: an order's summed pair costs are the shares loss of the outputs in that order, and the order chosen has the least loss", () => {
  const before = liveTensorCount();
  tidy(() => {
    // B = 3, K = 3, H = 4, W = 5, values in [0, 1] (native features); mixture planes in [0.3, 1].
    const [b, k, h, w] = [3, 3, 4, 5];
    const noise = (n: number, seed: number): number[] => Array.from(lcgNoise(n, seed), (v) => 0.5 + 0.5 * v);
    const separated = tensor(noise(b * k * h * w, 1), [b, k, h, w]);
    const sources = tensor(noise(b * k * h * w, 2), [b, k, h, w]);
    const mixture = tensor(
      noise(b * h * w, 3).map((v) => 0.3 + 0.7 * v),
      [b, 1, h, w],
    );
    const topDb = 80;
    const logits = tensor(new Array(b * k * 2).fill(0), [b, k, 2]);
    const costs = pairwiseShares(separated, sources, mixture, topDb);
    const lossOf = (perms: number[][]): number =>
      sharesLoss(
        applyPermutations({ separated, logits }, perms).separated,
        { sources, mixture, labels: logits },
        topDb,
      ).item();
    for (const p of permutations(k)) {
      const perms = [p, p, p];
      // the loss is the mean over samples of K × mean over cells and sources, i.e. Σ_j cost[perm[j]][j]
      const summed = costs.reduce((acc, c) => acc + p.reduce((s, i, j) => s + c[i * k + j]!, 0), 0) / b;
      assert.ok(Math.abs(lossOf(perms) - summed) < 1e-6, `order ${p}: ${lossOf(perms)} vs ${summed}`);
    }
    const { perms } = permuteToSources({ separated, logits }, sources, { mixture, topDb });
    // per sample, no other order has a smaller cost
    perms.forEach((chosen, i) => {
      const cost = (p: number[]): number => p.reduce((s, o, j) => s + costs[i]![o * k + j]!, 0);
      for (const p of permutations(k)) assert.ok(cost(chosen) <= cost(p) + 1e-9);
    });
  });
  assert.equal(liveTensorCount(), before, "PIT leaked tensors");
});
