// Every differentiable op's gradient against central finite differences, in float64.
//
// For each case: inputs x₁…xₖ (float64, generated from a seeded JS generator, not by the engine),
// a fixed random cotangent w of the output's shape, L = sum(op(x) · w). The analytic gradient comes
// from L.backward(); the numeric one from (L(x + ε·eᵢ) − L(x − ε·eᵢ)) / 2ε with ε = 1e-6.
// They must agree within TOL = 1e-6 · max(1, |numeric|). Inputs are chosen away from kinks (relu,
// abs, max/min, clamp, pooling ties) so that ±ε never crosses one.
import assert from "node:assert/strict";
import { describe } from "node:test";
import { F, cat, noGrad, stack, type Tensor, tensor, tidy, where } from "../src/engine/index.js";
import { Random } from "../src/util/random.js";
import { engineTest } from "./engine-helpers.js";

const EPS = 1e-6;
const TOL = 1e-6;

interface Input {
  shape: number[];
  data: number[];
}

type Gen = (r: Random, shape: number[]) => Input;

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const gaussian = (r: Random) => Math.sqrt(-2 * Math.log(1 - r.float())) * Math.cos(2 * Math.PI * r.float());

/** Standard normal values. */
const normal: Gen = (r, shape) => ({ shape, data: Array.from({ length: count(shape) }, () => gaussian(r)) });
/** |x| in [0.2, 1.5] with a random sign: away from the kinks of relu and abs at 0. */
const awayFromZero: Gen = (r, shape) => ({
  shape,
  data: Array.from({ length: count(shape) }, () => r.uniform(0.2, 1.5) * (r.bool() ? 1 : -1)),
});
/** Values in [0.5, 2] (log, sqrt, pow bases, divisors). */
const positive: Gen = (r, shape) => ({
  shape,
  data: Array.from({ length: count(shape) }, () => r.uniform(0.5, 2)),
});
/** Pairwise distinct values at least 0.05 apart (max/min reductions, max pooling): a shuffled grid. */
const distinct: Gen = (r, shape) => {
  const n = count(shape);
  const grid = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.07);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [grid[i], grid[j]] = [grid[j]!, grid[i]!];
  }
  return { shape, data: grid.map((v) => v + r.uniform(0, 0.01)) };
};
/** Rows of probabilities (for soft cross-entropy targets): positive entries summing to 1 along the last dim. */
const probabilities: Gen = (r, shape) => {
  const last = shape[shape.length - 1]!;
  const data = Array.from({ length: count(shape) }, () => r.uniform(0.1, 1));
  for (let i = 0; i < data.length; i += last) {
    const s = data.slice(i, i + last).reduce((a, b) => a + b, 0);
    for (let k = i; k < i + last; k++) data[k] = data[k]! / s;
  }
  return { shape, data };
};

interface GradCase {
  name: string;
  inputs: [Gen, number[]][];
  /** The op; constant (non-differentiated) tensors are created inside it. */
  fn: (xs: Tensor[]) => Tensor;
}

const i64 = (values: number[], shape?: number[]) => tensor(values, shape, { dtype: "int64" });
const f64 = (values: number[], shape?: number[]) => tensor(values, shape, { dtype: "float64" });

// prettier-ignore
const cases: GradCase[] = [
  // ---- elementwise
  { name: "add (broadcast)", inputs: [[normal, [2, 3]], [normal, [3]]], fn: ([a, b]) => a!.add(b!) },
  { name: "add scalar", inputs: [[normal, [4]]], fn: ([a]) => a!.add(0.5) },
  { name: "sub (broadcast)", inputs: [[normal, [2, 1]], [normal, [2, 3]]], fn: ([a, b]) => a!.sub(b!) },
  { name: "mul", inputs: [[normal, [2, 3]], [normal, [2, 3]]], fn: ([a, b]) => a!.mul(b!) },
  { name: "div", inputs: [[normal, [2, 3]], [positive, [2, 3]]], fn: ([a, b]) => a!.div(b!) },
  { name: "pow (tensor exponent)", inputs: [[positive, [5]], [normal, [5]]], fn: ([a, b]) => a!.pow(b!) },
  { name: "pow (scalar exponent)", inputs: [[positive, [5]]], fn: ([a]) => a!.pow(2.5) },
  { name: "maximum", inputs: [[distinct, [6]]], fn: ([a]) => a!.slice(0, 0, 3).maximum(a!.slice(0, 3, 6)) },
  { name: "minimum", inputs: [[distinct, [6]]], fn: ([a]) => a!.slice(0, 0, 3).minimum(a!.slice(0, 3, 6)) },
  { name: "maximum scalar", inputs: [[awayFromZero, [6]]], fn: ([a]) => a!.maximum(0) },
  { name: "neg", inputs: [[normal, [4]]], fn: ([a]) => a!.neg() },
  { name: "abs", inputs: [[awayFromZero, [6]]], fn: ([a]) => a!.abs() },
  { name: "exp", inputs: [[normal, [4]]], fn: ([a]) => a!.exp() },
  { name: "log", inputs: [[positive, [4]]], fn: ([a]) => a!.log() },
  { name: "log1p", inputs: [[positive, [4]]], fn: ([a]) => a!.log1p() },
  { name: "sqrt", inputs: [[positive, [4]]], fn: ([a]) => a!.sqrt() },
  { name: "square", inputs: [[normal, [4]]], fn: ([a]) => a!.square() },
  { name: "relu", inputs: [[awayFromZero, [8]]], fn: ([a]) => a!.relu() },
  { name: "sigmoid", inputs: [[normal, [5]]], fn: ([a]) => a!.sigmoid() },
  { name: "tanh", inputs: [[normal, [5]]], fn: ([a]) => a!.tanh() },
  // bounds ±0.1 never within ε of an input from awayFromZero (|x| ≥ 0.2)
  { name: "clamp", inputs: [[awayFromZero, [8]]], fn: ([a]) => a!.mul(0.3).clamp(-0.1, 0.1).add(a!.mul(0.01)) },
  { name: "clamp (min only)", inputs: [[awayFromZero, [8]]], fn: ([a]) => a!.clamp(0, null) },
  { name: "matmul", inputs: [[normal, [2, 3]], [normal, [3, 4]]], fn: ([a, b]) => a!.matmul(b!) },
  { name: "matmul (batched, broadcast)", inputs: [[normal, [2, 2, 3]], [normal, [3, 2]]], fn: ([a, b]) => a!.matmul(b!) },
  // ---- reductions
  { name: "sum (all)", inputs: [[normal, [2, 3]]], fn: ([a]) => a!.sum() },
  { name: "sum (dim, keepdim)", inputs: [[normal, [2, 3, 2]]], fn: ([a]) => a!.sum([0, 2], true) },
  { name: "mean (dim)", inputs: [[normal, [2, 3]]], fn: ([a]) => a!.mean(1) },
  { name: "max (all)", inputs: [[distinct, [2, 3]]], fn: ([a]) => a!.max() },
  { name: "max (dim)", inputs: [[distinct, [3, 4]]], fn: ([a]) => a!.max(1) },
  { name: "min (dim)", inputs: [[distinct, [3, 4]]], fn: ([a]) => a!.min(0, true) },
  { name: "variance (unbiased, dim)", inputs: [[normal, [3, 4]]], fn: ([a]) => a!.variance(1) },
  { name: "variance (biased, all)", inputs: [[normal, [3, 4]]], fn: ([a]) => a!.variance(undefined, { unbiased: false }) },
  { name: "logsumexp", inputs: [[normal, [3, 4]]], fn: ([a]) => a!.logsumexp(1) },
  // ---- shape (linear, but the backward of each must route values back to the right place)
  { name: "reshape", inputs: [[normal, [2, 6]]], fn: ([a]) => a!.reshape([3, 4]).mul(a!.reshape([3, 4])) },
  { name: "permute", inputs: [[normal, [2, 3, 4]]], fn: ([a]) => a!.permute([2, 0, 1]) },
  { name: "transpose", inputs: [[normal, [2, 3]]], fn: ([a]) => a!.transpose(0, 1).square() },
  { name: "slice (step 2, negative end)", inputs: [[normal, [3, 7]]], fn: ([a]) => a!.slice(1, 1, -1, 2) },
  { name: "select", inputs: [[normal, [3, 4]]], fn: ([a]) => a!.select(1, 2) },
  { name: "cat", inputs: [[normal, [2, 3]], [normal, [2, 1]]], fn: ([a, b]) => cat([a!, b!, a!], 1) },
  { name: "stack", inputs: [[normal, [2, 3]], [normal, [2, 3]]], fn: ([a, b]) => stack([a!, b!], 1) },
  { name: "squeeze", inputs: [[normal, [2, 1, 3]]], fn: ([a]) => a!.squeeze(1) },
  { name: "squeeze (all)", inputs: [[normal, [1, 3, 1]]], fn: ([a]) => a!.squeeze() },
  { name: "unsqueeze", inputs: [[normal, [2, 3]]], fn: ([a]) => a!.unsqueeze(-1) },
  { name: "expand", inputs: [[normal, [2, 1]]], fn: ([a]) => a!.expand([2, 4]) },
  { name: "flatten", inputs: [[normal, [2, 2, 3]]], fn: ([a]) => a!.flatten(1) },
  { name: "gather", inputs: [[normal, [3, 4]]], fn: ([a]) => a!.gather(1, i64([0, 3, 3, 1, 2, 2], [3, 2])) },
  { name: "indexSelect (repeated index)", inputs: [[normal, [4, 3]]], fn: ([a]) => a!.indexSelect(0, i64([2, 0, 2])) },
  {
    name: "where",
    inputs: [[normal, [2, 3]], [normal, [2, 3]]],
    fn: ([a, b]) => where(tensor([1, 0, 1, 0, 0, 1], [2, 3], { dtype: "bool" }), a!, b!),
  },
  // ---- nn functions
  {
    name: "conv2d (stride 2, padding 1, groups 2, bias)",
    inputs: [[normal, [2, 4, 5, 5]], [normal, [4, 2, 3, 3]], [normal, [4]]],
    fn: ([x, w, b]) => F.conv2d(x!, w!, b!, { stride: 2, padding: 1, groups: 2 }),
  },
  {
    name: "conv2d (dilation 2, rectangular stride)",
    inputs: [[normal, [1, 2, 6, 5]], [normal, [3, 2, 2, 2]]],
    fn: ([x, w]) => F.conv2d(x!, w!, null, { stride: [1, 2], dilation: 2 }),
  },
  {
    name: "convTranspose2d (stride 2, padding 1, outputPadding 1, groups 2, bias)",
    inputs: [[normal, [1, 4, 3, 3]], [normal, [4, 1, 3, 3]], [normal, [2]]],
    fn: ([x, w, b]) => F.convTranspose2d(x!, w!, b!, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
  },
  {
    name: "batchNorm (training)",
    inputs: [[normal, [3, 2, 2, 2]], [normal, [2]], [normal, [2]]],
    fn: ([x, w, b]) =>
      F.batchNorm(x!, f64([0, 0]), f64([1, 1]), w!, b!, { training: true, momentum: 0.1, eps: 1e-5 }),
  },
  {
    name: "batchNorm (eval)",
    inputs: [[normal, [3, 2, 2, 2]], [normal, [2]], [normal, [2]]],
    fn: ([x, w, b]) => F.batchNorm(x!, f64([0.3, -0.2]), f64([0.8, 1.7]), w!, b!, { training: false, eps: 1e-5 }),
  },
  {
    name: "maxPool2d (kernel 3, stride 2, padding 1)",
    inputs: [[distinct, [1, 2, 5, 5]]],
    fn: ([x]) => F.maxPool2d(x!, 3, { stride: 2, padding: 1 }),
  },
  {
    name: "maxPool2d (kernel 2)",
    inputs: [[distinct, [2, 1, 4, 4]]],
    fn: ([x]) => F.maxPool2d(x!, 2),
  },
  {
    name: "avgPool2d (padding, ceil, countIncludePad false)",
    inputs: [[normal, [1, 2, 5, 5]]],
    fn: ([x]) => F.avgPool2d(x!, 2, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
  },
  { name: "adaptiveAvgPool2d (5×5 → 3×2)", inputs: [[normal, [1, 2, 5, 5]]], fn: ([x]) => F.adaptiveAvgPool2d(x!, [3, 2]) },
  { name: "interpolateBilinear (up)", inputs: [[normal, [1, 2, 3, 3]]], fn: ([x]) => F.interpolateBilinear(x!, [5, 4]) },
  { name: "interpolateBilinear (down)", inputs: [[normal, [1, 1, 5, 6]]], fn: ([x]) => F.interpolateBilinear(x!, [3, 4]) },
  {
    name: "interpolateBilinear (alignCorners)",
    inputs: [[normal, [1, 2, 3, 3]]],
    fn: ([x]) => F.interpolateBilinear(x!, [4, 5], true),
  },
  {
    name: "linear (bias, 3-D input)",
    inputs: [[normal, [2, 2, 3]], [normal, [4, 3]], [normal, [4]]],
    fn: ([x, w, b]) => F.linear(x!, w!, b!),
  },
  { name: "softmax", inputs: [[normal, [3, 4]]], fn: ([x]) => F.softmax(x!, 1) },
  { name: "softmax (dim 0)", inputs: [[normal, [3, 4]]], fn: ([x]) => F.softmax(x!, 0) },
  { name: "logSoftmax", inputs: [[normal, [3, 4]]], fn: ([x]) => F.logSoftmax(x!, -1) },
  { name: "mseLoss (mean)", inputs: [[normal, [2, 3]], [normal, [2, 3]]], fn: ([x, y]) => F.mseLoss(x!, y!) },
  { name: "mseLoss (none)", inputs: [[normal, [2, 3]], [normal, [2, 3]]], fn: ([x, y]) => F.mseLoss(x!, y!, "none") },
  {
    name: "crossEntropy (indices)",
    inputs: [[normal, [4, 3]]],
    fn: ([x]) => F.crossEntropy(x!, i64([0, 2, 1, 2])),
  },
  {
    name: "crossEntropy (indices, label smoothing 0.1, sum)",
    inputs: [[normal, [4, 3]]],
    fn: ([x]) => F.crossEntropy(x!, i64([0, 2, 1, 2]), { labelSmoothing: 0.1, reduction: "sum" }),
  },
  {
    name: "crossEntropy (indices, class weights, none)",
    inputs: [[normal, [4, 3]]],
    fn: ([x]) => F.crossEntropy(x!, i64([0, 2, 1, 2]), { weight: f64([0.5, 2, 1]), reduction: "none" }),
  },
  {
    name: "crossEntropy (probabilities, label smoothing 0.2)",
    inputs: [[normal, [4, 3]], [probabilities, [4, 3]]],
    fn: ([x, p]) => F.crossEntropy(x!, p!, { labelSmoothing: 0.2 }),
  },
  {
    name: "binaryCrossEntropyWithLogits",
    inputs: [[normal, [2, 3]]],
    fn: ([x]) => F.binaryCrossEntropyWithLogits(x!, f64([0, 1, 0.3, 0.9, 1, 0], [2, 3])),
  },
  {
    name: "binaryCrossEntropyWithLogits (posWeight, none)",
    inputs: [[normal, [2, 3]]],
    fn: ([x]) =>
      F.binaryCrossEntropyWithLogits(x!, f64([0, 1, 0.3, 0.9, 1, 0], [2, 3]), {
        posWeight: f64([2, 0.5, 1]),
        reduction: "none",
      }),
  },
];

/** L = sum(fn(inputs) · w) for the given input values, without recording autograd history. */
function lossAt(c: GradCase, values: Input[], w: Tensor): number {
  return noGrad(() =>
    tidy(() => {
      const xs = values.map((v) => f64(v.data, v.shape));
      return c.fn(xs).mul(w).sum().item();
    }),
  );
}

describe("gradients match central finite differences (float64, ε = 1e-6, tol 1e-6 relative)", () => {
  for (const c of cases) {
    engineTest(c.name, () => {
      const r = new Random(`grad:${c.name}`);
      const values = c.inputs.map(([gen, shape]) => gen(r, shape));
      tidy(() => {
        const xs = values.map((v) => f64(v.data, v.shape).setRequiresGrad(true));
        const out = c.fn(xs);
        assert.equal(out.dtype, "float64", `${c.name}: output dtype`);
        const w = f64(normal(r, out.shape).data, out.shape);
        out.mul(w).sum().backward();
        values.forEach((v, k) => {
          const grad = xs[k]!.grad;
          assert.ok(grad !== null, `${c.name}: input ${k} has no gradient`);
          assert.deepEqual(grad.shape, v.shape, `${c.name}: gradient ${k} shape`);
          const analytic = grad.toArray();
          // A gradient that is zero everywhere would make the comparison vacuous.
          assert.ok(
            analytic.some((g) => Math.abs(g) > 1e-3),
            `${c.name}: gradient of input ${k} is (almost) zero`,
          );
          for (let j = 0; j < v.data.length; j++) {
            const shifted = (delta: number) =>
              values.map((u, m) =>
                m === k ? { shape: u.shape, data: u.data.map((x, i) => (i === j ? x + delta : x)) } : u,
              );
            const numeric = (lossAt(c, shifted(EPS), w) - lossAt(c, shifted(-EPS), w)) / (2 * EPS);
            const err = Math.abs(analytic[j]! - numeric) / Math.max(1, Math.abs(numeric));
            assert.ok(
              err <= TOL,
              `${c.name}: d/dx${k}[${j}] analytic ${analytic[j]} vs numeric ${numeric} (error ${err.toExponential(2)})`,
            );
          }
        });
      });
    });
  }
});
