/**
 * Overlap-add of per-window stems into whole-file stems, with a Hann cross-fade.
 */

/**
 * Cross-fade weight of a window position: a Hann shape sampled at half-sample offsets, so it is
 * positive everywhere (the first and last samples of the file are covered by one window only).
 */
export function crossfadeWeights(length: number): Float32Array {
  const w = new Float32Array(length);
  for (let i = 0; i < length; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / length);
  return w;
}

/**
 * Weighted overlap-add of per-window signals: out(t) = Σ_w c(t − s_w)·x_w(t − s_w) / Σ_w c(t − s_w)
 * with c the {@link crossfadeWeights}. Because the weights are normalised, windows that sum to the
 * mixture give outputs that sum to the mixture.
 */
export class OverlapAdd {
  private readonly acc: Float64Array;
  private readonly norm: Float64Array;
  private readonly weights: Float32Array;

  constructor(
    readonly total: number,
    readonly windowLength: number,
  ) {
    this.acc = new Float64Array(total);
    this.norm = new Float64Array(total);
    this.weights = crossfadeWeights(windowLength);
  }

  /** Adds one window's signal (samples past `total` are dropped). */
  add(start: number, signal: Float32Array): void {
    const end = Math.min(this.total, start + signal.length);
    for (let t = start; t < end; t++) {
      const w = this.weights[t - start] as number;
      this.acc[t] = (this.acc[t] as number) + w * (signal[t - start] as number);
      this.norm[t] = (this.norm[t] as number) + w;
    }
  }

  /** The normalised result (zeros where no window was added). */
  result(): Float32Array {
    const out = new Float32Array(this.total);
    for (let t = 0; t < this.total; t++) {
      const n = this.norm[t] as number;
      out[t] = n > 0 ? (this.acc[t] as number) / n : 0;
    }
    return out;
  }
}

/**
 * The same normalised overlap-add into several outputs at once (e.g. stems × channels) whose window
 * starts are known up front: the normaliser Σ_w c(t − s_w) is computed once for all of them, and
 * each output accumulates c·x / Σ c in float32 directly, so `count` outputs take `count` + 1
 * float32 arrays of `total` samples (long multi-channel audio), not 4·count as {@link OverlapAdd}'s.
 */
export class SharedOverlapAdd {
  /** The outputs, `total` samples each (zeros where no window was added). */
  readonly outputs: Float32Array[];
  private readonly inverseNorm: Float32Array;
  private readonly weights: Float32Array;

  /**
   * @param total samples of each output
   * @param windowLength samples of each window
   * @param starts the first sample of every window that will be added
   * @param count outputs
   */
  constructor(
    readonly total: number,
    readonly windowLength: number,
    starts: readonly number[],
    count: number,
  ) {
    this.weights = crossfadeWeights(windowLength);
    // Σ_w c(t − s_w) (a few terms, fine in float32), then inverted in place
    const norm = new Float32Array(total);
    for (const start of starts) {
      for (let t = Math.max(0, start); t < Math.min(total, start + windowLength); t++)
        norm[t] = norm[t]! + this.weights[t - start]!;
    }
    for (let t = 0; t < total; t++) norm[t] = norm[t]! > 0 ? 1 / norm[t]! : 0;
    this.inverseNorm = norm;
    this.outputs = Array.from({ length: count }, () => new Float32Array(total));
  }

  /** Adds one window's signal to output `output` (samples past `total` are dropped). */
  add(output: number, start: number, signal: Float32Array): void {
    const out = this.outputs[output];
    if (out === undefined) throw new RangeError(`SharedOverlapAdd: no output ${output}`);
    const end = Math.min(this.total, start + signal.length);
    for (let t = Math.max(0, start); t < end; t++)
      out[t] = out[t]! + this.weights[t - start]! * signal[t - start]! * this.inverseNorm[t]!;
  }
}
