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
 * {@link OverlapAdd} for windows added in order of their start: the samples before the next
 * window's start are final and {@link take}n, so only about one window of sums is held. Gives the
 * same values as OverlapAdd.
 */
export class StreamingOverlapAdd {
  private acc: Float64Array;
  private norm: Float64Array;
  private readonly weights: Float32Array;
  /** The first sample not yet taken: index 0 of the sums. */
  private base = 0;

  constructor(
    readonly total: number,
    readonly windowLength: number,
  ) {
    this.acc = new Float64Array(2 * windowLength);
    this.norm = new Float64Array(2 * windowLength);
    this.weights = crossfadeWeights(windowLength);
  }

  /** Adds one window's signal; `start` ≥ every earlier start and ≥ what was taken. */
  add(start: number, signal: Float32Array): void {
    if (start < this.base)
      throw new RangeError(`StreamingOverlapAdd: window at ${start} after ${this.base} was taken`);
    const end = Math.min(this.total, start + signal.length);
    if (end - this.base > this.acc.length) {
      const size = Math.max(end - this.base, 2 * this.acc.length);
      const acc = new Float64Array(size);
      const norm = new Float64Array(size);
      acc.set(this.acc);
      norm.set(this.norm);
      this.acc = acc;
      this.norm = norm;
    }
    for (let t = start; t < end; t++) {
      const w = this.weights[t - start]!;
      const i = t - this.base;
      this.acc[i] = this.acc[i]! + w * signal[t - start]!;
      this.norm[i] = this.norm[i]! + w;
    }
  }

  /** The normalised result of samples [taken so far, `end`) (zeros where no window was added). */
  take(end: number): Float32Array {
    const count = Math.max(0, Math.min(this.total, end) - this.base);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const n = this.norm[i]!;
      out[i] = n > 0 ? this.acc[i]! / n : 0;
    }
    this.acc.copyWithin(0, count);
    this.norm.copyWithin(0, count);
    this.acc.fill(0, this.acc.length - count);
    this.norm.fill(0, this.norm.length - count);
    this.base += count;
    return out;
  }
}
