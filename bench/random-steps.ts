// The engine-alone training loop shared by bench/engine.ts and bench/train.ts: the joint model trained
// on one random batch (channels-last, Adam lr 0.0015 wd 1e-4, loss 0.7·ΣMSE + 0.3·ΣCE).
import { Adam, manualSeed, rand, randint, tidy, withAutocast } from "../src/engine/index.js";
import { JointModel, type JointModelConfig, jointLoss } from "../src/model/index.js";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** samples/s of each of `steps` timed steps after one warm-up step, and the model's parameter count. */
export function trainOnRandom(
  config: JointModelConfig,
  options: { batch: number; steps: number; bf16: boolean },
): { rates: number[]; params: number } {
  const { batch, steps } = options;
  manualSeed(0);
  const model = new JointModel(config).toChannelsLast();
  const optimizer = new Adam(model.parameters(), { lr: 0.0015, weightDecay: 1e-4 });
  const x = tidy(() => rand([batch, 1, 128, 128]).contiguous("channels_last"));
  const target = rand([batch, config.sources, 128, 128]);
  const labels = randint(0, config.numClasses, [batch, config.sources]);
  const step = (): void => {
    optimizer.zeroGrad();
    // Only the loss outlives the scope, so libtorch frees every activation the backward pass does
    // not need as soon as it is computed, and the saved ones as backward consumes them (as PyTorch).
    const loss = tidy(() => {
      const output = options.bf16 ? withAutocast(() => model.forward(x)) : model.forward(x);
      return jointLoss(output, { sources: target, labels }, { lossWeight: 0.7, referenceWeight: 0 }).total;
    });
    loss.backward();
    loss.dispose();
    optimizer.step();
  };
  step();
  const rates: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    rates.push(batch / ((performance.now() - t0) / 1000));
  }
  const params = model.parameterCount();
  for (const t of [x, target, labels]) t.dispose();
  optimizer.dispose();
  model.dispose();
  return { rates, params };
}
