// Training speed of a joint model on this machine, and the bf16-or-float32 choice made by measuring it.
// Why measure: a CPU flag says bf16 is computed natively, not that autocast trains faster. On an Intel
// Xeon with AMX the `fast` model trained no faster in bf16 than in float32; on CPUs without native bf16
// oneDNN emulates it and training is ~12× slower.
import {
  Adam,
  cpuHasNativeBf16,
  cudaAvailable,
  getNumThreads,
  manualSeed,
  rand,
  randint,
  tidy,
  withAutocast,
} from "../engine/index.js";
import { JointModel, type JointModelConfig, jointLoss } from "./joint.js";

/**
 * Samples/s of each of `steps` timed training steps after one warm-up step: the joint model in
 * channels-last on one random batch (mixture [batch, 1, 128, 128]), Adam (lr 0.0015, wd 1e-4),
 * loss 0.7·ΣMSE + 0.3·ΣCE, bf16 autocast or float32. `rates` by wall time; `cpuRates` by this
 * process's CPU time spread over the engine's threads (batch / (CPU seconds / threads)), which other
 * processes on a busy machine slow far less. Also the model's parameter count.
 */
export function trainingRate(
  config: JointModelConfig,
  options: { batch: number; steps: number; bf16: boolean },
): { rates: number[]; cpuRates: number[]; params: number } {
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
  const cpuRates: number[] = [];
  const threads = getNumThreads();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    step();
    const cpu = process.cpuUsage(cpu0);
    rates.push(batch / ((performance.now() - t0) / 1000));
    cpuRates.push(batch / ((cpu.user + cpu.system) / 1e6 / threads));
  }
  const params = model.parameterCount();
  for (const t of [x, target, labels]) t.dispose();
  optimizer.dispose();
  model.dispose();
  return { rates, cpuRates, params };
}

/** The outcome of {@link choosePrecision}: the choice, why, and the rates measured (samples/s). */
export interface PrecisionChoice {
  bf16: boolean;
  reason: string;
  float32Rate?: number;
  bf16Rate?: number;
}

/** bf16 must beat float32 by this factor to be chosen (it also costs accuracy). */
export const BF16_MIN_SPEEDUP = 1.1;

/**
 * Chooses bf16 autocast or float32 for training `config` at `batch` on this machine by timing both
 * (`rounds` × 2 steps each, alternating; the best step of each counts) by CPU time, not wall time:
 * on a machine busy with other work the wall times of so few steps came out equal (8.3 vs 8.3
 * samples/s where a quiet run measured 36 vs 24) and float32 was chosen. Without native bf16 on the CPU (no avx512_bf16 / amx_bf16) float32 is chosen unmeasured;
 * on CUDA this measures nothing and keeps float32 (autocast here is CPU autocast).
 */
export function choosePrecision(config: JointModelConfig, batch: number, rounds = 2): PrecisionChoice {
  if (cudaAvailable()) return { bf16: false, reason: "CUDA: CPU bf16 autocast does not apply" };
  if (cpuHasNativeBf16() === false) {
    return { bf16: false, reason: "the CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag)" };
  }
  let float32Rate = 0;
  let bf16Rate = 0;
  for (let round = 0; round < rounds; round++) {
    float32Rate = Math.max(float32Rate, ...trainingRate(config, { batch, steps: 2, bf16: false }).cpuRates);
    bf16Rate = Math.max(bf16Rate, ...trainingRate(config, { batch, steps: 2, bf16: true }).cpuRates);
  }
  const bf16 = bf16Rate >= BF16_MIN_SPEEDUP * float32Rate;
  const rates = `bf16 ${bf16Rate.toFixed(1)} vs float32 ${float32Rate.toFixed(1)} samples/s (by CPU time)`;
  const reason = bf16
    ? `measured: ${rates} (≥ ${BF16_MIN_SPEEDUP}×)`
    : `measured: ${rates} (bf16 is not ${BF16_MIN_SPEEDUP}× faster here)`;
  return { bf16, reason, float32Rate, bf16Rate };
}
