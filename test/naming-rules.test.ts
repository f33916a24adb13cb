// The test-time naming rules of src/eval/naming-rules.ts against hand-derived values.
import assert from "node:assert/strict";
import { test } from "node:test";
import { topClasses } from "../src/eval/ceiling.js";
import { equalisingWeights, fusedClasses, reweightRows } from "../src/eval/naming-rules.js";
import { namedClasses } from "../src/separator/naming.js";
import { Random } from "../src/util/random.js";

test("fusedClasses: weight 0 is predict's rule, 1 the mixture's top classes, ½ the hand-derived blend", () => {
  // Play probabilities 1 − Π(1 − p): [0.73, 0.36, 0.73] / 1.82 = [0.401, 0.198, 0.401].
  const separated = [0.7, 0.2, 0.1, 0.1, 0.2, 0.7];
  const mixture = [0.1, 0.8, 0.1];
  assert.deepEqual(fusedClasses(separated, mixture, 2, 3, 0), [0, 2]);
  assert.deepEqual(fusedClasses(separated, mixture, 2, 3, 0), namedClasses(separated, 2, 3));
  // ½: [0.251, 0.499, 0.251] — class 1 first, then the tie of 0 and 2 goes to the lower index.
  assert.deepEqual(fusedClasses(separated, mixture, 2, 3, 0.5), [0, 1]);
  assert.deepEqual(fusedClasses(separated, mixture, 2, 3, 1), topClasses(mixture, 2));
});

test("equalisingWeights: one repeated row [½, ¼, ¼] gets weights ∝ [2, 4, 4] (mean 1)", () => {
  const rows = Array.from({ length: 5 }, () => [0.5, 0.25, 0.25]).flat();
  const w = equalisingWeights(rows, 3, 3);
  for (const [got, want] of [...w].map((v, c) => [v, [0.6, 1.2, 1.2][c]!]))
    assert.ok(Math.abs(got! - want!) < 1e-12);
  const q = reweightRows(rows, w);
  for (const v of q) assert.ok(Math.abs(v - 1 / 3) < 1e-12);
});

test("equalisingWeights: on random rows the reweighted rows average 1/C per class; uniform rows keep weight 1", () => {
  const rng = new Random(5);
  const classes = 6;
  const rows = Array.from({ length: 400 }, () => {
    // A skewed softmax: class 0 favoured.
    const logits = Array.from({ length: classes }, (_, c) => (c === 0 ? 1 : 0) + 2 * rng.float());
    const z = logits.reduce((a, b) => a + Math.exp(b), 0);
    return logits.map((l) => Math.exp(l) / z);
  }).flat();
  const w = equalisingWeights(rows, classes, 200);
  assert.ok(w[0]! < 1, `the favoured class should be weighted down, got ${w[0]}`);
  const q = reweightRows(rows, w);
  for (let c = 0; c < classes; c++) {
    let mean = 0;
    for (let r = 0; r < 400; r++) mean += q[r * classes + c]! / 400;
    assert.ok(Math.abs(mean - 1 / classes) < 1e-6, `class ${c}: mean ${mean}`);
  }
  const uniform = new Array(4 * classes).fill(1 / classes);
  assert.deepEqual([...equalisingWeights(uniform, classes)], new Array(classes).fill(1));
});
