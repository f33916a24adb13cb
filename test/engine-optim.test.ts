// Optimizers: ReduceLROnPlateau against hand-simulated sequences (torch.optim.lr_scheduler semantics),
// Adam's state-dict round trip, AdamW's decoupled decay vs Adam's L2 (expected values computed here in
// plain JS from the update formulas), and gradient clipping. (Numerical agreement of Adam/AdamW with
// PyTorch itself is in engine-golden.test.ts.)
import assert from "node:assert/strict";
import { describe } from "node:test";
import {
  Adam,
  AdamW,
  decodeSafetensors,
  dispose,
  encodeSafetensors,
  type OptimizerState,
  ReduceLROnPlateau,
  type Tensor,
  tensor,
  tidy,
} from "../src/engine/index.js";
import { assertClose, engineTest } from "./engine-helpers.js";

const f64 = (values: number[], shape?: number[]) => tensor(values, shape, { dtype: "float64" });

describe("ReduceLROnPlateau", () => {
  engineTest("mode min, patience 2, factor 0.5 (the seed's settings), relative threshold 1e-4", () => {
    const opt = { lr: 1 };
    const s = new ReduceLROnPlateau(opt, { mode: "min", patience: 2, factor: 0.5 });
    // Simulated by hand: 0.95, 0.92, 0.91 are 3 bad epochs after best 0.9 → halve at epoch 5;
    // 0.9 is not better than best 0.9 → bad; 0.85 is the new best; 0.86–0.88 → halve at epoch 10;
    // 0.84999 is not below 0.85·(1 − 1e-4) = 0.849915, so it does not count as an improvement.
    const metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.85, 0.86, 0.87, 0.88, 0.84999];
    const expectedLr = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25];
    const reducedAt = [5, 10];
    metrics.forEach((m, i) => {
      const reduced = s.step(m);
      assert.equal(opt.lr, expectedLr[i], `lr after epoch ${i + 1}`);
      assert.equal(reduced, reducedAt.includes(i + 1), `reduced at epoch ${i + 1}`);
    });
    assert.equal(s.best, 0.85);
    assert.equal(s.numBadEpochs, 1);
    assert.equal(s.lastEpoch, metrics.length);
  });

  engineTest("absolute threshold, cooldown 2 and minLr", () => {
    const opt = { lr: 1 };
    const s = new ReduceLROnPlateau(opt, {
      mode: "min",
      patience: 2,
      factor: 0.5,
      threshold: 0.05,
      thresholdMode: "abs",
      cooldown: 2,
      minLr: 0.3,
    });
    // Hand simulation: better means < best − 0.05. Epochs 2–4 are bad → halve at 4, cooldown 2
    // (epochs 5, 6 reset the bad count); 7, 8 bad; 0.94 < 1 − 0.05 is the new best at 9; 10–12 bad →
    // max(0.25, minLr 0.3) = 0.3 at 12; then cooldown, and at 17 a "reduction" to 0.3 changes nothing.
    const metrics = [
      1, 0.97, 0.96, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.9, 0.9, 0.9, 0.9,
    ];
    const expectedLr = [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3];
    const reducedAt = [4, 12];
    metrics.forEach((m, i) => {
      const reduced = s.step(m);
      assert.equal(opt.lr, expectedLr[i], `lr after epoch ${i + 1}`);
      assert.equal(reduced, reducedAt.includes(i + 1), `reduced at epoch ${i + 1}`);
    });
    assert.equal(s.best, 0.94);
  });

  engineTest("mode max and state round trip", () => {
    const opt = { lr: 0.1 };
    const s = new ReduceLROnPlateau(opt, { mode: "max", patience: 0, factor: 0.1 });
    assert.equal(s.step(0.5), false);
    assert.equal(s.step(0.6), false);
    assert.equal(s.step(0.6), true, "no improvement with patience 0 reduces at once");
    assert.ok(Math.abs(opt.lr - 0.01) < 1e-15);
    const copy = new ReduceLROnPlateau({ lr: opt.lr }, { mode: "max", patience: 0, factor: 0.1 });
    copy.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
    assert.deepEqual(copy.stateDict(), s.stateDict());
    assert.equal(copy.step(0.55), s.step(0.55));
  });
});

/** Fresh float64 leaf parameters with the given values. */
function params(values: number[][]): Tensor[] {
  return values.map((v) => f64(v).setRequiresGrad(true));
}

describe("Adam / AdamW", () => {
  engineTest(
    "Adam state dict round trip: saved moments loaded into a fresh optimizer give an identical next step",
    () => {
      tidy(() => {
        const start = [
          [0.5, -1, 2],
          [0.25, 3],
        ];
        const grads = (k: number) => [f64([0.1 * k, -0.2, 0.3 + k]), f64([-k, 0.05])];
        const a = params(start);
        const optA = new Adam(a, { lr: 0.01, weightDecay: 1e-4 });
        for (let k = 1; k <= 3; k++) {
          a.forEach((p, i) => p.setGrad(grads(k)[i]!));
          optA.step();
        }
        // Save to safetensors bytes and back, as a checkpoint would.
        const saved = optA.stateDict();
        const loaded = decodeSafetensors(encodeSafetensors(saved.tensors)).tensors;
        const state: OptimizerState = { kind: saved.kind, hyper: { ...saved.hyper }, tensors: loaded };
        assert.deepEqual(state.tensors.get("steps")!.toArray(), [3, 3]);

        const b = params(a.map((p) => p.toArray()));
        const optB = new Adam(b, { lr: 0.5, weightDecay: 1e-4 });
        optB.loadStateDict(state);
        assert.equal(optB.lr, 0.01, "lr restored");
        const c = params(a.map((p) => p.toArray()));
        const optC = new Adam(c, { lr: 0.01, weightDecay: 1e-4 }); // control: no state loaded

        for (const [ps, opt] of [
          [a, optA],
          [b, optB],
          [c, optC],
        ] as const) {
          ps.forEach((p, i) => p.setGrad(grads(4)[i]!));
          opt.step();
        }
        a.forEach((p, i) =>
          assert.deepEqual(b[i]!.toArray(), p.toArray(), `param ${i} after the resumed step`),
        );
        assert.notDeepEqual(
          c[0]!.toArray(),
          a[0]!.toArray(),
          "without the state the step differs (the test can fail)",
        );
        const wrongKind = new AdamW(params([[1]]));
        assert.throws(() => wrongKind.loadStateDict(state), /state is for adam, not adamw/);
        wrongKind.dispose();
        for (const o of [optA, optB, optC]) o.dispose();
        dispose(loaded);
      });
    },
  );

  engineTest("AdamW decays decoupled from the gradient; Adam's L2 goes through the normalisation", () => {
    tidy(() => {
      const lr = 0.1;
      const wd = 0.5;
      const eps = 1e-8;
      const p0 = [2, -3, 0.5];
      // Zero gradient: AdamW only decays, p ← p·(1 − lr·wd).
      const w = params([p0]);
      const adamw = new AdamW(w, { lr, weightDecay: wd });
      w[0]!.setGrad(f64([0, 0, 0]));
      adamw.step();
      assertClose(
        w[0]!,
        p0.map((p) => p * (1 - lr * wd)),
        1e-15,
        "AdamW, zero gradient",
      );
      // Zero gradient: Adam's L2 term wd·p becomes the gradient; step 1 moves by lr·g/(|g| + eps).
      const a = params([p0]);
      const adam = new Adam(a, { lr, weightDecay: wd });
      a[0]!.setGrad(f64([0, 0, 0]));
      adam.step();
      const l2 = p0.map((p) => p - (lr * (wd * p)) / (Math.abs(wd * p) + eps));
      assertClose(a[0]!, l2, 1e-12, "Adam, zero gradient");
      // Non-zero gradient, first step (m̂ = g, v̂ = g²): AdamW p ← p·(1 − lr·wd) − lr·g/(|g| + eps).
      const g = [0.3, -0.1, 2];
      const w2 = params([p0]);
      const adamw2 = new AdamW(w2, { lr, weightDecay: wd, eps });
      w2[0]!.setGrad(f64(g));
      adamw2.step();
      const expected = p0.map((p, i) => p * (1 - lr * wd) - (lr * g[i]!) / (Math.abs(g[i]!) + eps));
      assertClose(w2[0]!, expected, 1e-12, "AdamW, first step");
      const defaults = [new AdamW([]), new Adam([])];
      assert.equal(defaults[0]!.weightDecay, 0.01, "AdamW's default weight decay is torch's 0.01");
      assert.equal(defaults[1]!.weightDecay, 0, "Adam's default weight decay is 0");
      for (const o of defaults) o.dispose();
      for (const o of [adamw, adam, adamw2]) o.dispose();
    });
  });

  engineTest("parameters without a gradient are skipped and keep step count 0", () => {
    tidy(() => {
      const ps = params([[1, 2], [3]]);
      const opt = new Adam(ps, { lr: 0.1 });
      ps[0]!.setGrad(f64([1, -1]));
      opt.step();
      assert.deepEqual(ps[1]!.toArray(), [3]);
      assert.deepEqual(opt.stateDict().tensors.get("steps")!.toArray(), [1, 0]);
      opt.zeroGrad();
      assert.equal(ps[0]!.grad, null, "zeroGrad sets gradients to none");
      opt.dispose();
    });
  });

  engineTest("clipGradNorm scales gradients to the max norm and returns the norm before", () => {
    tidy(() => {
      const ps = params([[0, 0], [0], [0]]);
      const opt = new Adam(ps);
      ps[0]!.setGrad(f64([3, 4]));
      ps[1]!.setGrad(f64([12])); // total norm √(9 + 16 + 144) = 13; ps[2] has no gradient
      assert.equal(opt.gradNorm(), 13);
      assert.equal(opt.clipGradNorm(20), 13);
      assert.deepEqual(ps[0]!.grad!.toArray(), [3, 4], "below the limit: unchanged");
      assert.equal(opt.clipGradNorm(6.5), 13);
      const scale = 6.5 / (13 + 1e-6); // torch.nn.utils.clip_grad_norm_ adds 1e-6
      assertClose(ps[0]!.grad!, [3 * scale, 4 * scale], 1e-15, "clipped grad 0");
      assertClose(ps[1]!.grad!, [12 * scale], 1e-15, "clipped grad 1");
      assert.ok(Math.abs(opt.gradNorm() - 6.5) < 1e-6);
      opt.dispose();
    });
  });
});
