// Metric code against hand-computed cases.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bestSiSdrOrder,
  classificationScores,
  confusionMatrix,
  finiteMean,
  meanSquaredError,
  SDR_CAP_DB,
  sdr,
  siSdr,
  sourceAudioScores,
} from "../src/eval/metrics.js";
import { bestAssignment, permutations } from "../src/separator/assignment.js";
import { matchedLabels, namedClasses, sameLabels } from "../src/separator/naming.js";

const TOLERANCE = 1e-9;
const close = (a: number, b: number, tol = TOLERANCE, what = ""): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tolerance ${tol})`);

test("confusion matrix, precision / recall / F1, macro and micro F1 of a known case", () => {
  // truth 0 0 0 1 1 2, predicted 0 1 0 1 2 2; class 3 never occurs nor is predicted.
  const counts = confusionMatrix([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], 4);
  assert.deepEqual(counts, [
    [2, 1, 0, 0],
    [0, 1, 1, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 0],
  ]);
  const s = classificationScores(counts);
  // class 0: TP 2, FP 0, FN 1 → P 1, R 2/3, F1 0.8
  close(s.perClass[0]!.precision, 1);
  close(s.perClass[0]!.recall, 2 / 3);
  close(s.perClass[0]!.f1, 0.8);
  assert.equal(s.perClass[0]!.support, 3);
  // class 1: TP 1, FP 1, FN 1 → P ½, R ½, F1 ½
  close(s.perClass[1]!.precision, 0.5);
  close(s.perClass[1]!.recall, 0.5);
  close(s.perClass[1]!.f1, 0.5);
  // class 2: TP 1, FP 1, FN 0 → P ½, R 1, F1 2/3
  close(s.perClass[2]!.precision, 0.5);
  close(s.perClass[2]!.recall, 1);
  close(s.perClass[2]!.f1, 2 / 3);
  // class 3 absent: zeros, and left out of the macro mean
  assert.deepEqual(s.perClass[3], { precision: 0, recall: 0, f1: 0, support: 0 });
  close(s.macroF1, (0.8 + 0.5 + 2 / 3) / 3);
  close(s.accuracy, 4 / 6);
  close(s.microF1, 4 / 6); // single-label: micro F1 = accuracy
});

test("confusion matrix rejects bad input", () => {
  assert.throws(() => confusionMatrix([0, 1], [0], 2), /2 true labels but 1 predictions/);
  assert.throws(() => confusionMatrix([0, 2], [0, 1], 2), /item 1 has class 2 → 1/);
  assert.deepEqual(classificationScores(confusionMatrix([], [], 2)).accuracy, 0);
});

test("pair exact match is order-free; permutations and the best alignment", () => {
  assert.equal(sameLabels([1, 3], [3, 1]), true);
  assert.equal(sameLabels([1, 1], [1, 3]), false);
  assert.equal(sameLabels([2, 2], [2, 2]), true);
  assert.equal(permutations(3).length, 6);
  assert.deepEqual(permutations(2), [
    [0, 1],
    [1, 0],
  ]);
  assert.deepEqual(permutations(3)[0], [0, 1, 2]);
  assert.deepEqual(
    bestAssignment([
      [5, 1],
      [1, 5],
    ]),
    [1, 0],
  );
  assert.deepEqual(
    bestAssignment([
      [1, 1],
      [1, 1],
    ]),
    [0, 1],
  ); // ties keep the identity
  assert.deepEqual(
    bestAssignment([
      [9, 9, 0],
      [0, 9, 9],
      [9, 0, 9],
    ]),
    [2, 0, 1],
  );
});

test("spectrogram MSE", () => {
  close(meanSquaredError([0, 1, 2, 3], [1, 1, 0, 3]), (1 + 0 + 4 + 0) / 4);
  assert.throws(() => meanSquaredError([1], [1, 2]), /lengths differ/);
});

/** sin and cos over whole periods are orthogonal: ⟨sin, cos⟩ = 0, ‖sin‖² = N/2. */
function waves(n: number, cycles: number): { s: Float64Array; c: Float64Array } {
  const s = new Float64Array(n);
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = Math.sin((2 * Math.PI * cycles * i) / n);
    c[i] = Math.cos((2 * Math.PI * cycles * i) / n);
  }
  return { s, c };
}

test("SI-SDR and SDR: a scaled copy is capped, signal plus known noise gives its SNR", () => {
  const { s, c } = waves(8000, 50);
  const scaled = s.map((v) => 3 * v);
  assert.equal(siSdr(scaled, s), SDR_CAP_DB);
  assert.equal(siSdr(s, s), SDR_CAP_DB);
  // SDR is not scale-invariant: 0.5·s leaves 0.5·s of error → 10·log10(1 / 0.25) dB
  close(
    sdr(
      s.map((v) => 0.5 * v),
      s,
    ),
    10 * Math.log10(4),
    1e-9,
  );
  // noise 0.1·cos ⟂ s: SNR = 10·log10(1 / 0.01) = 20 dB for both; SI-SDR ignores a gain of 2
  const noisy = s.map((v, i) => v + 0.1 * c[i]!);
  close(siSdr(noisy, s), 20, 1e-9, "SI-SDR");
  close(sdr(noisy, s), 20, 1e-9, "SDR");
  close(
    siSdr(
      noisy.map((v) => 2 * v),
      s,
    ),
    20,
    1e-9,
    "SI-SDR of 2·(s + n)",
  );
  // orthogonal estimate: nothing of the target
  assert.equal(siSdr(c, s), -SDR_CAP_DB);
  // silent reference: undefined
  assert.ok(Number.isNaN(siSdr(s, new Float64Array(s.length))));
  assert.throws(() => siSdr([1, 2], [1]), /lengths differ/);
});

test("SI-SDR improvement over the mixture", () => {
  const { s, c } = waves(4000, 20);
  const mixture = s.map((v, i) => v + c[i]!); // equal power, orthogonal → mixture SI-SDR 0 dB
  const estimate = s.map((v, i) => v + 0.1 * c[i]!); // 20 dB
  const scores = sourceAudioScores(estimate, s, mixture);
  close(scores.mixtureSiSdr, 0, 1e-9);
  close(scores.siSdr, 20, 1e-9);
  close(scores.siSdrImprovement, 20, 1e-9);
  assert.deepEqual(finiteMean([1, Number.NaN, 3]), { mean: 2, count: 2 });
});

test("best SI-SDR order: swapped estimates are paired back; a silent reference never decides; K = 3", () => {
  const { s, c } = waves(4000, 20);
  const mixture = s.map((v, i) => v + c[i]!);
  // estimate 0 is mostly c (20 dB), estimate 1 mostly s (10 dB): the best order is the swap
  const e0 = c.map((v, i) => v + 0.1 * s[i]!);
  const e1 = s.map((v, i) => v + Math.sqrt(0.1) * c[i]!);
  const scores = [e0, e1].map((e) => [s, c].map((r) => sourceAudioScores(e, r, mixture)));
  assert.deepEqual(bestSiSdrOrder(scores), [1, 0]);
  close(scores[0]![1]!.siSdr, 20, 1e-9);
  close(scores[1]![0]!.siSdr, 10, 1e-9);
  // a silent second reference: its NaN scores do not count, so s goes to estimate 1 (10 dB, not −20)
  const silent = new Float64Array(s.length);
  const withSilent = [e0, e1].map((e) => [s, silent].map((r) => sourceAudioScores(e, r, mixture)));
  assert.ok(Number.isNaN(withSilent[0]![1]!.siSdr));
  close(withSilent[0]![0]!.siSdr, -20, 1e-9);
  assert.deepEqual(bestSiSdrOrder(withSilent), [1, 0]);
  // K = 3: the order of the highest total, though estimate 0 alone would rather take reference 1
  const table = [
    [0, 6, 5],
    [0, 9, 1],
    [4, 1, 0],
  ].map((row) => row.map((siSdr) => ({ sdr: siSdr, siSdr, mixtureSiSdr: 0, siSdrImprovement: siSdr })));
  assert.deepEqual(bestSiSdrOrder(table), [2, 1, 0]); // 5 + 9 + 4 = 18; greedy would total 6 + 1 + 4
});

test("named classes: the K highest play probabilities 1 − Π(1 − p_k), ascending; matched order-free", () => {
  // Both sources lean to class 2 alone; class 0 is second in each: play(2) = 1 − 0.4·0.5 = 0.8,
  // play(0) = 1 − 0.7·0.6 = 0.58, play(1) = 1 − 0.9·0.9 = 0.19 → {0, 2} though no argmax is 0.
  const probs = [0.3, 0.1, 0.6, 0.4, 0.1, 0.5];
  assert.deepEqual(namedClasses(probs, 2, 3), [0, 2]);
  // Ties go to the lower class index.
  assert.deepEqual(namedClasses([0.5, 0.5, 0, 0, 0, 1], 2, 3), [0, 2]);
  assert.deepEqual(namedClasses([0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25], 2, 4), [0, 1]);
  assert.throws(() => namedClasses([0.5, 0.5], 2, 3), /2 probabilities, expected sources × classes = 6/);
  assert.equal(matchedLabels([1, 4], [4, 7]), 1);
  assert.equal(matchedLabels([4, 1], [1, 4]), 2);
  assert.equal(matchedLabels([2, 2], [2, 3]), 1);
  assert.equal(matchedLabels([5, 6], [1, 2]), 0);
});
