// The `shares` separation loss: its value against the formula computed here in plain numbers, zero
// at the reference, the ratio output's shares equal to its masks, and its gradient against central
// finite differences.
import assert from "node:assert/strict";
import { noGrad, type Tensor, tensor, tidy } from "../src/engine/index.js";
import { ratioOutput, sharesLoss } from "../src/model/index.js";
import { Random } from "../src/util/random.js";
import { engineTest } from "./engine-helpers.js";

const TOP_DB = 80;
const A = (TOP_DB * Math.LN10) / 10;
const [B, K, H, W] = [2, 3, 2, 3];
const CELLS = H * W;
const f64 = (values: number[], shape: number[]): Tensor => tensor(values, shape, { dtype: "float64" });

/** The loss in plain numbers: K · mean over (b, k, cell) of w·(s − r)², w = |X| / mean|X| per sample. */
function expected(separated: number[], sources: number[], mixture: number[]): number {
  const softmaxAt = (x: number[], b: number, c: number): number[] => {
    const z = Array.from({ length: K }, (_, k) => A * x[(b * K + k) * CELLS + c]!);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((p, q) => p + q, 0);
    return e.map((v) => v / sum);
  };
  let total = 0;
  for (let b = 0; b < B; b++) {
    const mag = Array.from({ length: CELLS }, (_, c) => Math.exp((A / 2) * (mixture[b * CELLS + c]! - 1)));
    const meanMag = mag.reduce((p, q) => p + q, 0) / CELLS;
    for (let c = 0; c < CELLS; c++) {
      const s = softmaxAt(separated, b, c);
      const r = softmaxAt(sources, b, c);
      for (let k = 0; k < K; k++) total += (mag[c]! / meanMag) * (s[k]! - r[k]!) ** 2;
    }
  }
  return (K * total) / (B * K * CELLS);
}

function draw(label: string): { separated: number[]; sources: number[]; mixture: number[] } {
  const r = new Random(label);
  return {
    separated: Array.from({ length: B * K * CELLS }, () => r.uniform(0.3, 1)),
    sources: Array.from({ length: B * K * CELLS }, () => r.uniform(0.3, 1)),
    mixture: Array.from({ length: B * CELLS }, () => r.uniform(0.5, 1)),
  };
}

function loss(separated: number[], sources: number[], mixture: number[]): number {
  return noGrad(() =>
    tidy(() =>
      sharesLoss(
        f64(separated, [B, K, H, W]),
        { sources: f64(sources, [B, K, H, W]), mixture: f64(mixture, [B, 1, H, W]), labels: f64([0], [1]) },
        TOP_DB,
      ).item(),
    ),
  );
}

engineTest("sharesLoss equals the formula computed in plain numbers, and is 0 at the reference", () => {
  const { separated, sources, mixture } = draw("shares-value");
  const want = expected(separated, sources, mixture);
  assert.ok(want > 1e-3, `a loss worth checking: ${want}`);
  assert.ok(Math.abs(loss(separated, sources, mixture) - want) < 1e-12 * Math.max(1, want));
  assert.equal(loss(sources, sources, mixture), 0);
});

engineTest("for the ratio output, the shares are its masks: the loss is the weighted mask error", () => {
  const r = new Random("shares-ratio");
  const logits = Array.from({ length: B * K * CELLS }, () => r.normal());
  // A loud mixture, so no cell of the ratio output is floored.
  const mixture = Array.from({ length: B * CELLS }, () => r.uniform(0.9, 1));
  const { sources } = draw("shares-ratio-sources");
  const separated = noGrad(() =>
    tidy(() => ratioOutput(f64(logits, [B, K, H, W]), f64(mixture, [B, 1, H, W]), TOP_DB).toArray()),
  );
  // softmax(a·v_k) with v_k = v_mix + ln m_k / a is m_k = softmax(logits): the same loss as logits / a.
  const asLogits = logits.map((x) => x / A);
  assert.ok(Math.abs(loss(separated, sources, mixture) - expected(asLogits, sources, mixture)) < 1e-9);
});

engineTest(
  "sharesLoss: gradient of the separated values matches central finite differences (float64)",
  () => {
    const EPS = 1e-6;
    const { separated, sources, mixture } = draw("shares-grad");
    tidy(() => {
      const x = f64(separated, [B, K, H, W]).setRequiresGrad(true);
      sharesLoss(
        x,
        { sources: f64(sources, [B, K, H, W]), mixture: f64(mixture, [B, 1, H, W]), labels: f64([0], [1]) },
        TOP_DB,
      ).backward();
      const analytic = x.grad!.toArray();
      assert.ok(
        analytic.some((g) => Math.abs(g) > 1e-3),
        "gradient is (almost) zero",
      );
      for (let j = 0; j < separated.length; j++) {
        const shifted = (d: number): number[] => separated.map((v, i) => (i === j ? v + d : v));
        const numeric =
          (loss(shifted(EPS), sources, mixture) - loss(shifted(-EPS), sources, mixture)) / (2 * EPS);
        const err = Math.abs(analytic[j]! - numeric) / Math.max(1, Math.abs(numeric));
        assert.ok(err <= 1e-6, `d/dseparated[${j}]: analytic ${analytic[j]} vs numeric ${numeric}`);
      }
    });
  },
);
