// Training speed of a joint model on this machine (on random tensors, for the benches), and the
// bf16-or-float32 choice made by timing a run's own first steps.
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
import { type CpuSample, otherCpuShare, sampleCpu } from "../util/cpu-load.js";
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

/**
 * The outcome of a {@link PrecisionTrial} or {@link unmeasuredPrecision}: the choice, why, and the
 * rates measured (samples/s).
 */
export interface PrecisionChoice {
  bf16: boolean;
  reason: string;
  float32Rate?: number;
  bf16Rate?: number;
  /** The median over step pairs of float32 step time / bf16 step time. */
  speedup?: number;
  /** The share (0…1) of the machine's CPU time that other work used while the pairs were timed. */
  otherCpuShare?: number;
}

/** bf16 must beat float32 by this factor to be chosen (it also costs accuracy). */
export const BF16_MIN_SPEEDUP = 1.1;

/**
 * Other work using this share of the machine's CPU time while the trial's pairs run makes its
 * choice say that it may be off (a fifth: on 2 cores, other work busy 0.4 of a core on average).
 */
export const TRIAL_BUSY_SHARE = 0.2;

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

/** Why bf16 autocast is not to be measured here (float32), or null where it must be measured. */
export function unmeasuredPrecision(): PrecisionChoice | null {
  if (cudaAvailable()) return { bf16: false, reason: "CUDA: CPU bf16 autocast does not apply" };
  if (cpuHasNativeBf16() === false) {
    return { bf16: false, reason: "the CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag)" };
  }
  return null;
}

/**
 * Chooses bf16 autocast or float32 on a run's own first training steps, so that it times the step
 * that will be trained (its batches and loss terms; the wait for the loader is not counted), not a
 * stand-in. The steps go float32, bf16 (each one's first step, which builds oneDNN's kernels, is not
 * timed), then `pairs` pairs of one float32 and one bf16 step, which of them first alternating per
 * pair. bf16 is chosen where the median pair's speed-up ({@link pairedSpeedup}) is ≥
 * {@link BF16_MIN_SPEEDUP}. (Why not a stand-in: five pairs of steps on random tensors, without the
 * reference classification or the loader, measured 1.10–1.22× quiet for the recipe on a Zen 4 EPYC,
 * where its real loop trains 1.29–1.44× faster in bf16 and this trial measured 1.36–1.43×.)
 * Pairing does not make it immune to other work: on a 2-core Zen 5 a light other job running beside
 * the trial made it measure 0.65× for that recipe; so the choice also says how much of the CPUs
 * other work used meanwhile ({@link otherCpuShare}) and, from {@link TRIAL_BUSY_SHARE} on, that the
 * measurement may be off.
 *   const trial = new PrecisionTrial(batch);
 *   while (!trial.done) { const bf16 = trial.nextIsBf16(); …step…; trial.record(seconds); }
 *   trial.choice();
 */
export class PrecisionTrial {
  private readonly times = { float32: [] as number[], bf16: [] as number[] };
  private steps = 0;
  private cpuAtPairs: CpuSample | null = null;
  private busyShare: number | null = null;

  /**
   * `batch`: samples per step (for the rates it reports); `pairs`: timed step pairs; `cpu`: samples
   * the machine's CPU time when the pairs start and end ({@link sampleCpu}; tests pass their own).
   */
  constructor(
    private readonly batch: number,
    readonly pairs = 5,
    private readonly cpu: () => CpuSample | null = () => sampleCpu(),
  ) {}

  /** Whether the next step runs in bf16 autocast: float32, bf16, then pairs (f, b), (b, f), … */
  nextIsBf16(): boolean {
    if (this.steps < 2) return this.steps === 1;
    const pair = Math.floor((this.steps - 2) / 2);
    const second = (this.steps - 2) % 2 === 1;
    return (pair % 2 === 1) !== second;
  }

  /** Records the wall time (seconds) of the step just run in the precision {@link nextIsBf16} gave. */
  record(seconds: number): void {
    if (this.done) return;
    if (this.steps >= 2) (this.nextIsBf16() ? this.times.bf16 : this.times.float32).push(seconds);
    this.steps++;
    if (this.steps === 2) this.cpuAtPairs = this.cpu();
    if (this.done && this.cpuAtPairs !== null) {
      const now = this.cpu();
      this.busyShare = now === null ? null : otherCpuShare(this.cpuAtPairs, now);
    }
  }

  /** Every pair timed. */
  get done(): boolean {
    return this.steps >= 2 + 2 * this.pairs;
  }

  /** The choice from the complete pairs timed so far (float32 where there is none: too few steps). */
  choice(): PrecisionChoice {
    const n = Math.min(this.times.float32.length, this.times.bf16.length);
    if (n === 0) {
      return {
        bf16: false,
        reason: `too few training steps to time bf16 against float32 (${this.steps}; it takes at least 4)`,
      };
    }
    const float32 = this.times.float32.slice(0, n);
    const bf16Times = this.times.bf16.slice(0, n);
    const speedup = pairedSpeedup(float32, bf16Times);
    const rate = (ts: number[]): number => this.batch / median(ts);
    const [float32Rate, bf16Rate] = [rate(float32), rate(bf16Times)];
    const bf16 = speedup >= BF16_MIN_SPEEDUP;
    const rates = `bf16 ${speedup.toFixed(2)}× float32's speed on the run's first training steps (median of ${n} step pairs; ${bf16Rate.toFixed(1)} vs ${float32Rate.toFixed(1)} samples/s)`;
    const busy =
      this.busyShare !== null && this.busyShare >= TRIAL_BUSY_SHARE
        ? `; other work kept ${Math.round(this.busyShare * 100)} % of the machine's CPU time busy meanwhile, so this may be off (set \`bf16\` on or off to choose without measuring)`
        : "";
    const reason = bf16
      ? `measured: ${rates} (≥ ${BF16_MIN_SPEEDUP}×)${busy}`
      : `measured: ${rates} (bf16 is not ${BF16_MIN_SPEEDUP}× faster here)${busy}`;
    return {
      bf16,
      reason,
      float32Rate,
      bf16Rate,
      speedup,
      ...(this.busyShare === null ? {} : { otherCpuShare: this.busyShare }),
    };
  }
}
