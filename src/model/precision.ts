// Training speed of a joint model on this machine, and the bf16-or-float32 choice made by measuring it.
// Why measure: a CPU flag says bf16 is computed natively, not that autocast trains faster. On an Intel
// Xeon with AMX the `fast` model trained no faster in bf16 than in float32; on CPUs without native bf16
// oneDNN emulates it and training is ~12× slower.
import {
  Adam,
  cpuHasNativeBf16,
  cudaAvailable,
  manualSeed,
  rand,
  randint,
  tidy,
  withAutocast,
} from "../engine/index.js";
import { median } from "../util/stats.js";
import { JointModel, type JointModelConfig, jointLoss } from "./joint.js";

/**
 * One training step of the joint model on one random batch, to time: channels-last, mixture
 * [batch, 1, 128, 128], Adam (lr 0.0015, wd 1e-4), loss 0.7·ΣMSE + 0.3·ΣCE, bf16 autocast or
 * float32 per call. `dispose` frees the model, optimizer and batch.
 */
function randomTrainingStep(
  config: JointModelConfig,
  batch: number,
): { step: (bf16: boolean) => void; params: number; dispose: () => void } {
  manualSeed(0);
  const model = new JointModel(config).toChannelsLast();
  const optimizer = new Adam(model.parameters(), { lr: 0.0015, weightDecay: 1e-4 });
  const x = tidy(() => rand([batch, 1, 128, 128]).contiguous("channels_last"));
  const target = rand([batch, config.sources, 128, 128]);
  const labels = randint(0, config.numClasses, [batch, config.sources]);
  const step = (bf16: boolean): void => {
    optimizer.zeroGrad();
    // Only the loss outlives the scope, so libtorch frees every activation the backward pass does
    // not need as soon as it is computed, and the saved ones as backward consumes them (as PyTorch).
    const loss = tidy(() => {
      const output = bf16 ? withAutocast(() => model.forward(x)) : model.forward(x);
      return jointLoss(output, { sources: target, labels }, { lossWeight: 0.7, referenceWeight: 0 }).total;
    });
    loss.backward();
    loss.dispose();
    optimizer.step();
  };
  const dispose = (): void => {
    for (const t of [x, target, labels]) t.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { step, params: model.parameterCount(), dispose };
}

/**
 * Samples/s (wall time) of each of `steps` timed training steps after one warm-up step
 * ({@link randomTrainingStep}), and the model's parameter count.
 */
export function trainingRate(
  config: JointModelConfig,
  options: { batch: number; steps: number; bf16: boolean },
): { rates: number[]; params: number } {
  const { batch, steps, bf16 } = options;
  const { step, params, dispose } = randomTrainingStep(config, batch);
  step(bf16);
  const rates: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step(bf16);
    rates.push(batch / ((performance.now() - t0) / 1000));
  }
  dispose();
  return { rates, params };
}

/** The outcome of {@link choosePrecision}: the choice, why, and the rates measured (samples/s). */
export interface PrecisionChoice {
  bf16: boolean;
  reason: string;
  float32Rate?: number;
  bf16Rate?: number;
  /** The median over step pairs of float32 step time / bf16 step time. */
  speedup?: number;
}

/** bf16 must beat float32 by this factor to be chosen (it also costs accuracy). */
export const BF16_MIN_SPEEDUP = 1.1;

/**
 * The speed-up of B over A from interleaved pairs of step times (seconds): the median of the
 * per-pair ratios A / B. Steps of a pair run one right after the other, so a machine whose load
 * changes during the measurement slows both alike, and the median ignores the pairs that a burst of
 * other work hit (on a shared 2-core machine single steps varied 2×, and the best of two CPU-timed
 * steps per mode once chose float32 for a recipe that had always trained in bf16 there).
 */
export function pairedSpeedup(timesA: readonly number[], timesB: readonly number[]): number {
  if (timesA.length === 0 || timesA.length !== timesB.length) {
    throw new RangeError(
      `pairedSpeedup: need as many A as B times (got ${timesA.length} and ${timesB.length})`,
    );
  }
  return median(timesA.map((a, i) => a / timesB[i]!));
}

/**
 * Wall times (seconds) of `pairs` pairs of training steps of one model ({@link randomTrainingStep}),
 * alternating float32 and bf16 autocast (which goes first alternates per pair), after one warm-up
 * step of each.
 */
export function interleavedStepTimes(
  config: JointModelConfig,
  options: { batch: number; pairs: number },
): { float32: number[]; bf16: number[] } {
  const { step, dispose } = randomTrainingStep(config, options.batch);
  const timed = (bf16: boolean): number => {
    const t0 = performance.now();
    step(bf16);
    return (performance.now() - t0) / 1000;
  };
  timed(false);
  timed(true);
  const times = { float32: [] as number[], bf16: [] as number[] };
  for (let i = 0; i < options.pairs; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const bf16 of order) (bf16 ? times.bf16 : times.float32).push(timed(bf16));
  }
  dispose();
  return times;
}

/**
 * Chooses bf16 autocast or float32 for training `config` at `batch` on this machine by timing both
 * in `pairs` interleaved pairs of steps of one model ({@link interleavedStepTimes}) and taking bf16
 * where the median pair's speed-up ({@link pairedSpeedup}) is ≥ {@link BF16_MIN_SPEEDUP}. Without
 * native bf16 on the CPU (no avx512_bf16 / amx_bf16) float32 is chosen unmeasured; on CUDA this
 * measures nothing and keeps float32 (autocast here is CPU autocast).
 */
export function choosePrecision(config: JointModelConfig, batch: number, pairs = 5): PrecisionChoice {
  if (cudaAvailable()) return { bf16: false, reason: "CUDA: CPU bf16 autocast does not apply" };
  if (cpuHasNativeBf16() === false) {
    return { bf16: false, reason: "the CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag)" };
  }
  const times = interleavedStepTimes(config, { batch, pairs });
  const speedup = pairedSpeedup(times.float32, times.bf16);
  const rate = (ts: number[]): number => batch / median(ts);
  const [float32Rate, bf16Rate] = [rate(times.float32), rate(times.bf16)];
  const bf16 = speedup >= BF16_MIN_SPEEDUP;
  const rates = `bf16 ${speedup.toFixed(2)}× float32's speed (median of ${pairs} step pairs; ${bf16Rate.toFixed(1)} vs ${float32Rate.toFixed(1)} samples/s)`;
  const reason = bf16
    ? `measured: ${rates} (≥ ${BF16_MIN_SPEEDUP}×)`
    : `measured: ${rates} (bf16 is not ${BF16_MIN_SPEEDUP}× faster here)`;
  return { bf16, reason, float32Rate, bf16Rate, speedup };
}
