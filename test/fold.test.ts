// Batch-norm folding (src/model/fold.ts, BatchNorm2d.foldInto): a joint model with non-trivial
// batch-norm statistics gives the same outputs folded and unfolded.
import assert from "node:assert/strict";
import { BatchNorm2d, Conv2d, manualSeed, noGrad, rand, tensor, tidy } from "../src/engine/index.js";
import { foldBatchNorm, JointModel, JointModelConfigSchema } from "../src/model/index.js";
import { assertClose, engineTest } from "./engine-helpers.js";

const TOLERANCE = 1e-4;

/** A small joint model (U-Net depth 2, ResNet-18 width 4) with random batch-norm statistics and affines. */
function smallModel(): JointModel {
  manualSeed(3);
  const model = new JointModel(
    JointModelConfigSchema.parse({
      numClasses: 3,
      unet: { depth: 2, baseChannels: 4, output: "mask" },
      resnet: { depth: 18, width: 4 },
    }),
  );
  noGrad(() =>
    tidy(() => {
      for (const [name, t] of model.stateDict()) {
        if (name.endsWith("running_mean") || name.endsWith("bn1.bias") || name.endsWith(".bias"))
          t.copyFrom(rand(t.shape).sub(0.5));
        if (name.endsWith("running_var")) t.copyFrom(rand(t.shape).mul(2).add(0.1));
        if (/(bn\d|\.\d)\.weight$/.test(name) && t.rank === 1) t.copyFrom(rand(t.shape).add(0.5));
      }
    }),
  );
  return model.eval();
}

engineTest("folding every batch norm into its convolution keeps the joint model's outputs", () => {
  const model = smallModel();
  try {
    const bns = [...model.stateDict().keys()].filter((k) => k.endsWith("running_var")).length;
    const input = tensor(
      Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => 0.5 + 0.5 * Math.sin(i * 0.37)),
      [2, 1, 32, 32],
    );
    const run = (): [number[], number[]] =>
      noGrad(() =>
        tidy(() => {
          const y = model.forward(input);
          return [y.separated.toArray(), y.logits.toArray()];
        }),
      );
    const [separated, logits] = run();
    assert.equal(foldBatchNorm(model), bns, "every batch norm follows a convolution");
    const [foldedSeparated, foldedLogits] = run();
    assertClose(foldedSeparated, separated, TOLERANCE, "separated");
    assertClose(foldedLogits, logits, TOLERANCE, "logits");
    assert.ok(
      logits.some((v) => Math.abs(v) > 0.05),
      "logits are not trivially zero",
    );
    assert.equal(foldBatchNorm(model), 0, "nothing is folded twice");
    input.dispose();
  } finally {
    model.dispose();
  }
});

engineTest("a batch norm in training mode refuses to fold", () => {
  const conv = new Conv2d(1, 2, 3);
  const bn = new BatchNorm2d(2);
  try {
    assert.throws(() => bn.foldInto(conv), /training mode; call eval\(\) first/);
  } finally {
    conv.dispose();
    bn.dispose();
  }
});
