/**
 * Real FFT of a power-of-two length N, computed as one complex FFT of N/2 points (fft.js, radix-4)
 * plus a split step. Works on Float64Arrays so spectra match numpy's double-precision `rfft`.
 */
import FFT from "fft.js";
import { FeatureError } from "./errors.js";

/** The subset of fft.js we use (its bundled typings are `any`). */
interface ComplexFft {
  transform(out: Float64Array, data: Float64Array): void;
  inverseTransform(out: Float64Array, data: Float64Array): void;
}

/**
 * Forward and inverse real FFT of size `n` (a power of two ≥ 4). Not thread-safe: one instance
 * owns scratch buffers; create one per worker.
 */
export class RealFft {
  /** Transform length N. */
  readonly n: number;
  /** Number of non-negative-frequency bins, N/2 + 1. */
  readonly nBins: number;
  private readonly half: number;
  private readonly fft: ComplexFft;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly zIn: Float64Array;
  private readonly zOut: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 4 || (n & (n - 1)) !== 0) {
      throw new FeatureError(`FFT size must be a power of two ≥ 4, got ${n}`);
    }
    this.n = n;
    this.half = n / 2;
    this.nBins = n / 2 + 1;
    this.fft = new FFT(this.half) as unknown as ComplexFft;
    this.cos = new Float64Array(this.half);
    this.sin = new Float64Array(this.half);
    for (let k = 0; k < this.half; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    this.zIn = new Float64Array(n);
    this.zOut = new Float64Array(n);
  }

  /**
   * X[k] = Σ_n x[n] e^{-2πikn/N} for k = 0..N/2 (numpy.fft.rfft convention, unnormalised).
   * @param input real signal, length N (read from `inputOffset`)
   * @param re output real parts, length ≥ N/2+1
   * @param im output imaginary parts, length ≥ N/2+1
   */
  forward(input: ArrayLike<number>, re: Float64Array, im: Float64Array): void {
    const h = this.half;
    const z = this.zIn;
    for (let i = 0; i < this.n; i++) z[i] = input[i] as number; // pairs (x[2m], x[2m+1]) as complex z[m]
    this.fft.transform(this.zOut, z);
    const Z = this.zOut;
    const z0r = Z[0] as number;
    const z0i = Z[1] as number;
    re[0] = z0r + z0i;
    im[0] = 0;
    re[h] = z0r - z0i;
    im[h] = 0;
    const c = this.cos;
    const s = this.sin;
    for (let k = 1; k < h; k++) {
      const ar = Z[2 * k] as number;
      const ai = Z[2 * k + 1] as number;
      const br = Z[2 * (h - k)] as number;
      const bi = -(Z[2 * (h - k) + 1] as number); // conj(Z[h-k])
      // even part E = (Z[k] + conj Z[h-k]) / 2; odd part O = (Z[k] - conj Z[h-k]) / (2i)
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const wr = c[k] as number;
      const wi = -(s[k] as number); // e^{-2πik/N}
      re[k] = er + wr * or - wi * oi;
      im[k] = ei + wr * oi + wi * or;
    }
  }

  /**
   * Inverse of {@link forward}: x[n] = (1/N) Σ_k X[k] e^{2πikn/N} with Hermitian symmetry (numpy
   * `irfft`). The imaginary parts of bins 0 and N/2 are ignored.
   * @param output real signal, length N
   */
  inverse(re: ArrayLike<number>, im: ArrayLike<number>, output: Float64Array): void {
    const h = this.half;
    const Z = this.zIn;
    const c = this.cos;
    const s = this.sin;
    for (let k = 0; k < h; k++) {
      const ar = re[k] as number;
      const ai = k === 0 ? 0 : (im[k] as number);
      const br = re[h - k] as number;
      const bi = k === 0 ? 0 : -(im[h - k] as number); // conj X[h-k]
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const dr = 0.5 * (ar - br);
      const di = 0.5 * (ai - bi);
      const wr = c[k] as number;
      const wi = s[k] as number; // e^{+2πik/N}
      const or = dr * wr - di * wi;
      const oi = dr * wi + di * wr;
      // Z[k] = E + i O
      Z[2 * k] = er - oi;
      Z[2 * k + 1] = ei + or;
    }
    this.fft.inverseTransform(this.zOut, Z);
    output.set(this.zOut);
  }
}
