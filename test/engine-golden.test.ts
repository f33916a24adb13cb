// Forward values and gradients against PyTorch 1.13 (test/golden/engine.json, written by
// scripts/golden/engine.py with Debian's python3-torch). Inputs come from the JSON too.
// Tolerances: float64 cases 1e-10, float32 cases 1e-5 (relative, absolute below 1; see assertClose).
import assert from "node:assert/strict";
import { describe } from "node:test";
import { Adam, AdamW, F, type Tensor, tidy } from "../src/engine/index.js";
import { assertClose, engineTest, fromGolden, type GoldenArray, golden } from "./engine-helpers.js";

const TOL64 = 1e-10;
const TOL32 = 1e-5;

interface ConvCase {
  options: Record<string, number>;
  x: GoldenArray;
  weight: GoldenArray;
  bias: GoldenArray;
  upstream: GoldenArray;
  out: GoldenArray;
  grad_x: GoldenArray;
  grad_weight: GoldenArray;
  grad_bias: GoldenArray;
}

interface BatchNormCase extends Omit<ConvCase, "options"> {
  options: { training: boolean; momentum: number; eps: number };
  running_mean: GoldenArray;
  running_var: GoldenArray;
  running_mean_after: GoldenArray;
  running_var_after: GoldenArray;
}

interface CrossEntropyCase {
  options: { reduction: "mean"; label_smoothing: number };
  logits: GoldenArray;
  target: GoldenArray;
  loss: number;
  grad_logits: GoldenArray;
}

interface AdamCase {
  options: { lr: number; weight_decay: number; betas: [number, number]; eps: number };
  params: GoldenArray[];
  grads: GoldenArray[][];
  after: GoldenArray[][];
}

const g = golden();
const pick = <T>(name: string): T => {
  const value = g[name];
  assert.ok(value !== undefined, `test/golden/engine.json has no '${name}' (rerun scripts/golden/engine.py)`);
  return value as T;
};

/** Runs `forward` on requires-grad copies of x, weight and bias, back-propagates the stored upstream. */
function checkDifferentiable(
  c: ConvCase | BatchNormCase,
  label: string,
  forward: (x: Tensor, w: Tensor, b: Tensor) => Tensor,
): void {
  tidy(() => {
    const x = fromGolden(c.x).setRequiresGrad(true);
    const w = fromGolden(c.weight).setRequiresGrad(true);
    const b = fromGolden(c.bias).setRequiresGrad(true);
    const out = forward(x, w, b);
    assertClose(out, c.out, TOL64, `${label} output`);
    out.mul(fromGolden(c.upstream)).sum().backward();
    assertClose(x.grad!, c.grad_x, TOL64, `${label} grad x`);
    assertClose(w.grad!, c.grad_weight, TOL64, `${label} grad weight`);
    assertClose(b.grad!, c.grad_bias, TOL64, `${label} grad bias`);
  });
}

describe("engine vs PyTorch 1.13 golden values", () => {
  engineTest("conv2d: stride 2, padding 1, groups 2, bias (float64)", () => {
    const c = pick<ConvCase>("conv2d");
    assert.deepEqual(c.options, { stride: 2, padding: 1, groups: 2 });
    checkDifferentiable(c, "conv2d", (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }));
  });

  engineTest("convTranspose2d: stride 2, padding 1, outputPadding 1 (float64)", () => {
    const c = pick<ConvCase>("conv_transpose2d");
    assert.deepEqual(c.options, { stride: 2, padding: 1, output_padding: 1 });
    checkDifferentiable(c, "convTranspose2d", (x, w, b) =>
      F.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
    );
  });

  for (const mode of ["train", "eval"] as const) {
    engineTest(`batchNorm ${mode} mode: output, running statistics, gradients (float64)`, () => {
      const c = pick<BatchNormCase>(`batch_norm_${mode}`);
      tidy(() => {
        const runningMean = fromGolden(c.running_mean);
        const runningVar = fromGolden(c.running_var);
        checkDifferentiable(c, `batchNorm ${mode}`, (x, w, b) =>
          F.batchNorm(x, runningMean, runningVar, w, b, c.options),
        );
        // train: updated in place with momentum 0.1 and the unbiased batch variance; eval: untouched.
        assertClose(runningMean, c.running_mean_after, TOL64, `batchNorm ${mode} running mean`);
        assertClose(runningVar, c.running_var_after, TOL64, `batchNorm ${mode} running var`);
      });
    });
  }

  for (const kind of ["indices", "probs"] as const) {
    engineTest(`crossEntropy with ${kind} targets, mean, label smoothing 0.1 (float64)`, () => {
      const c = pick<CrossEntropyCase>(`cross_entropy_${kind}`);
      tidy(() => {
        const logits = fromGolden(c.logits).setRequiresGrad(true);
        const loss = F.crossEntropy(logits, fromGolden(c.target), {
          reduction: c.options.reduction,
          labelSmoothing: c.options.label_smoothing,
        });
        assertClose([loss.item()], [c.loss], TOL64, `crossEntropy ${kind} loss`);
        loss.backward();
        assertClose(logits.grad!, c.grad_logits, TOL64, `crossEntropy ${kind} grad`);
      });
    });
  }

  for (const [name, Optimizer] of [
    ["adam", Adam],
    ["adamw", AdamW],
  ] as const) {
    engineTest(`${name === "adam" ? "Adam" : "AdamW"}: parameters after steps 1 and 2 (float64)`, () => {
      const c = pick<AdamCase>(name);
      tidy(() => {
        const params = c.params.map((p) => fromGolden(p).setRequiresGrad(true));
        const opt = new Optimizer(params, {
          lr: c.options.lr,
          betas: c.options.betas,
          eps: c.options.eps,
          weightDecay: c.options.weight_decay,
        });
        try {
          c.grads.forEach((grads, step) => {
            params.forEach((p, i) => p.setGrad(fromGolden(grads[i]!)));
            opt.step();
            params.forEach((p, i) =>
              assertClose(p, c.after[step]![i]!, TOL64, `${name} step ${step + 1} param ${i}`),
            );
          });
        } finally {
          opt.dispose();
        }
      });
    });
  }

  engineTest("float32 conv2d + batchNorm: NCHW and channels-last both match PyTorch (1e-5)", () => {
    const c = pick<{
      x: GoldenArray;
      weight: GoldenArray;
      bias: GoldenArray;
      bn_weight: GoldenArray;
      bn_bias: GoldenArray;
      running_mean: GoldenArray;
      running_var: GoldenArray;
      out: GoldenArray;
    }>("conv_bn_float32");
    tidy(() => {
      const f32 = (a: GoldenArray) => fromGolden(a, "float32");
      const [bias, bw, bb, rm, rv] = [c.bias, c.bn_weight, c.bn_bias, c.running_mean, c.running_var].map(f32);
      const forward = (x: Tensor, w: Tensor) =>
        F.batchNorm(F.conv2d(x, w, bias!, { padding: 1 }), rm!, rv!, bw!, bb!, {
          training: false,
          eps: 1e-5,
        });
      const x = f32(c.x);
      const w = f32(c.weight);
      const nchw = forward(x, w);
      assert.equal(nchw.dtype, "float32");
      assertClose(nchw, c.out, TOL32, "NCHW");
      const xl = x.contiguous("channels_last");
      const wl = w.contiguous("channels_last");
      assert.ok(xl.isContiguous("channels_last") && !xl.isContiguous(), "input really is channels-last");
      const nhwc = forward(xl, wl);
      assert.ok(nhwc.isContiguous("channels_last"), "channels-last in, channels-last out");
      assert.deepEqual(nhwc.shape, nchw.shape);
      // toArray() reads logical (row-major NCHW) order whatever the memory format.
      assertClose(nhwc, c.out, TOL32, "channels-last");
      assertClose(nhwc, nchw.toArray(), TOL32, "channels-last vs NCHW");
    });
  });
});
