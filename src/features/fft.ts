/**
 * FFTs on Float64Arrays (double precision, so spectra match numpy's `rfft`, which always runs in
 * float64): an iterative radix-4 complex FFT (one radix-2 stage when log2 N is odd) on split real /
 * imaginary arrays, and a real FFT of length N computed as a complex FFT of N/2 points plus a split
 * step. Written here rather than taken from fft.js because fft.js slows down ~2× once it has seen
 * more than one array type in a process, and because loading the input straight into bit-reversed
 * order saves a pass.
 */
import { FeatureError } from "./errors.js";

function checkPow2(n: number, min: number, what: string): void {
  if (!Number.isInteger(n) || n < min || (n & (n - 1)) !== 0) {
    throw new FeatureError(`${what} size must be a power of two ≥ ${min}, got ${n}`);
  }
}

/** In-place complex FFT of a power-of-two size n ≥ 2 on split arrays, X[k] = Σ x[m] e^{-2πikm/n}. */
export class ComplexFft {
  readonly n: number;
  /** Bit-reversal permutation: input m goes to position rev[m]. */
  readonly rev: Int32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly oddBits: boolean;

  constructor(n: number) {
    checkPow2(n, 2, "FFT");
    this.n = n;
    const bits = Math.round(Math.log2(n));
    this.oddBits = bits % 2 === 1;
    this.rev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      this.rev[i] = r;
    }
    // Twiddles e^{-2πik/n} for k < n (k up to 3·(n/4 − 1) in the radix-4 stages).
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
  }

  /** Transforms (re, im) in place; the input must already be in bit-reversed order (see {@link rev}). */
  transformBitReversed(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    let size: number;
    if (this.oddBits) {
      for (let i = 0; i < n; i += 2) {
        const ar = re[i] as number;
        const ai = im[i] as number;
        const br = re[i + 1] as number;
        const bi = im[i + 1] as number;
        re[i] = ar + br;
        im[i] = ai + bi;
        re[i + 1] = ar - br;
        im[i + 1] = ai - bi;
      }
      size = 2;
    } else {
      // size-4 DFTs; in bit-reversed order the four inputs are x0, x2, x1, x3
      for (let i = 0; i < n; i += 4) {
        const x0r = re[i] as number;
        const x0i = im[i] as number;
        const x1r = re[i + 1] as number;
        const x1i = im[i + 1] as number;
        const x2r = re[i + 2] as number;
        const x2i = im[i + 2] as number;
        const x3r = re[i + 3] as number;
        const x3i = im[i + 3] as number;
        const ar = x0r + x1r;
        const ai = x0i + x1i;
        const br = x0r - x1r;
        const bi = x0i - x1i;
        const cr = x2r + x3r;
        const ci = x2i + x3i;
        const dr = x2r - x3r;
        const di = x2i - x3i;
        re[i] = ar + cr;
        im[i] = ai + ci;
        re[i + 2] = ar - cr;
        im[i + 2] = ai - ci;
        re[i + 1] = br + di;
        im[i + 1] = bi - dr;
        re[i + 3] = br - di;
        im[i + 3] = bi + dr;
      }
      size = 4;
    }
    const cos = this.cos;
    const sin = this.sin;
    // Radix-4 DIT: combine four length-q DFTs (stored at s, s+q, s+2q, s+3q, holding the inputs
    // ≡ 0, 2, 1, 3 mod 4 respectively) into one of length 4q.
    while (size < n) {
      const q = size;
      const big = 4 * q;
      const step = n / big;
      for (let j = 0; j < q; j++) {
        const k1 = j * step;
        const w1r = cos[k1] as number;
        const w1i = sin[k1] as number;
        const w2r = cos[2 * k1] as number;
        const w2i = sin[2 * k1] as number;
        const w3r = cos[3 * k1] as number;
        const w3i = sin[3 * k1] as number;
        for (let s = j; s < n; s += big) {
          const a1 = s + q;
          const a2 = a1 + q;
          const a3 = a2 + q;
          const Ar = re[s] as number;
          const Ai = im[s] as number;
          let t = re[a1] as number;
          let u = im[a1] as number;
          const Br = t * w2r - u * w2i;
          const Bi = t * w2i + u * w2r;
          t = re[a2] as number;
          u = im[a2] as number;
          const Cr = t * w1r - u * w1i;
          const Ci = t * w1i + u * w1r;
          t = re[a3] as number;
          u = im[a3] as number;
          const Dr = t * w3r - u * w3i;
          const Di = t * w3i + u * w3r;
          const s0r = Ar + Br;
          const s0i = Ai + Bi;
          const s1r = Ar - Br;
          const s1i = Ai - Bi;
          const s2r = Cr + Dr;
          const s2i = Ci + Di;
          const s3r = Cr - Dr;
          const s3i = Ci - Di;
          re[s] = s0r + s2r;
          im[s] = s0i + s2i;
          re[a2] = s0r - s2r;
          im[a2] = s0i - s2i;
          re[a1] = s1r + s3i;
          im[a1] = s1i - s3r;
          re[a3] = s1r - s3i;
          im[a3] = s1i + s3r;
        }
      }
      size = big;
    }
  }

  /** Forward FFT of (re, im) in natural order, in place. */
  transform(re: Float64Array, im: Float64Array): void {
    const rev = this.rev;
    for (let i = 0; i < this.n; i++) {
      const j = rev[i] as number;
      if (j > i) {
        let t = re[i] as number;
        re[i] = re[j] as number;
        re[j] = t;
        t = im[i] as number;
        im[i] = im[j] as number;
        im[j] = t;
      }
    }
    this.transformBitReversed(re, im);
  }
}

/**
 * Forward and inverse real FFT of size `n` (a power of two ≥ 4). Not thread-safe: an instance owns
 * scratch buffers; use one per thread.
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
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;

  constructor(n: number) {
    checkPow2(n, 4, "real FFT");
    this.n = n;
    this.half = n / 2;
    this.nBins = n / 2 + 1;
    this.fft = new ComplexFft(this.half);
    this.cos = new Float64Array(this.half);
    this.sin = new Float64Array(this.half);
    for (let k = 0; k < this.half; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    this.zr = new Float64Array(this.half);
    this.zi = new Float64Array(this.half);
  }

  /**
   * X[k] = Σ_n x[n] e^{-2πikn/N} for k = 0..N/2 (numpy.fft.rfft convention, unnormalised).
   * @param input real signal, length N
   * @param re output real parts, length ≥ N/2+1
   * @param im output imaginary parts, length ≥ N/2+1
   */
  forward(input: Float64Array, re: Float64Array, im: Float64Array): void {
    const h = this.half;
    const zr = this.zr;
    const zi = this.zi;
    const rev = this.fft.rev;
    // z[m] = x[2m] + i·x[2m+1], loaded straight into bit-reversed order
    for (let m = 0; m < h; m++) {
      const p = rev[m] as number;
      zr[p] = input[2 * m] as number;
      zi[p] = input[2 * m + 1] as number;
    }
    this.fft.transformBitReversed(zr, zi);
    const z0r = zr[0] as number;
    const z0i = zi[0] as number;
    re[0] = z0r + z0i;
    im[0] = 0;
    re[h] = z0r - z0i;
    im[h] = 0;
    const c = this.cos;
    const s = this.sin;
    for (let k = 1; k < h; k++) {
      const ar = zr[k] as number;
      const ai = zi[k] as number;
      const br = zr[h - k] as number;
      const bi = -(zi[h - k] as number); // conj Z[h-k]
      // even part E = (Z[k] + conj Z[h-k]) / 2, odd part O = (Z[k] − conj Z[h-k]) / (2i); X = E + e^{-2πik/N} O
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const wr = c[k] as number;
      const wi = -(s[k] as number);
      re[k] = er + wr * or - wi * oi;
      im[k] = ei + wr * oi + wi * or;
    }
  }

  /**
   * Power spectrum |X[k]|² (k = 0..N/2) of a windowed frame taken from a signal, with zeros outside
   * it: frame[j] = signal[start + j] · window[j] for 0 ≤ start + j < signalLength. Fuses windowing,
   * bit-reversed loading, the FFT and the split step (the hot loop of feature extraction).
   * @param signal samples (only indices < signalLength are read)
   * @param window length N
   * @param power output, length ≥ N/2 + 1
   */
  powerSpectrum(
    signal: Float32Array,
    signalLength: number,
    start: number,
    window: Float64Array,
    power: Float64Array,
  ): void {
    const h = this.half;
    const zr = this.zr;
    const zi = this.zi;
    const rev = this.fft.rev;
    if (start >= 0 && start + this.n <= signalLength) {
      for (let m = 0, j = 0; m < h; m++, j += 2) {
        const p = rev[m] as number;
        zr[p] = (signal[start + j] as number) * (window[j] as number);
        zi[p] = (signal[start + j + 1] as number) * (window[j + 1] as number);
      }
    } else {
      for (let m = 0, j = 0; m < h; m++, j += 2) {
        const p = rev[m] as number;
        const a = start + j;
        const b = a + 1;
        zr[p] = a >= 0 && a < signalLength ? (signal[a] as number) * (window[j] as number) : 0;
        zi[p] = b >= 0 && b < signalLength ? (signal[b] as number) * (window[j + 1] as number) : 0;
      }
    }
    this.fft.transformBitReversed(zr, zi);
    const z0r = zr[0] as number;
    const z0i = zi[0] as number;
    power[0] = (z0r + z0i) * (z0r + z0i);
    power[h] = (z0r - z0i) * (z0r - z0i);
    const c = this.cos;
    const s = this.sin;
    // Bins k and m = h − k share their inputs Z[k], Z[m]: with E = (Z[k] + conj Z[m]) / 2 and
    // O = (Z[k] − conj Z[m]) / (2i), X[k] = E + W^k O and X[m] = conj E + W^m conj O, where
    // W^k = e^{−2πik/N} and W^m = −e^{+2πik/N}.
    for (let k = 1, m = h - 1; k <= m; k++, m--) {
      const ar = zr[k] as number;
      const ai = zi[k] as number;
      const br = zr[m] as number;
      const bi = zi[m] as number;
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi);
      const oi = -0.5 * (ar - br);
      const wr = c[k] as number;
      const ws = s[k] as number;
      const tr = wr * or + ws * oi; // Re(W^k O)
      const ti = wr * oi - ws * or; // Im(W^k O)
      let xr = er + tr;
      let xi = ei + ti;
      power[k] = xr * xr + xi * xi;
      xr = er - tr; // Re(W^m conj O) = −(wr·or + ws·oi)
      xi = -ei + (wr * oi - ws * or); // Im(W^m conj O) = wr·oi − ws·or
      power[m] = xr * xr + xi * xi;
    }
  }

  /**
   * Inverse of {@link forward}: x[n] = (1/N) Σ_k X[k] e^{2πikn/N} assuming Hermitian symmetry (numpy
   * `irfft`); the imaginary parts of bins 0 and N/2 are ignored.
   * @param output real signal, length N
   */
  inverse(re: ArrayLike<number>, im: ArrayLike<number>, output: Float64Array): void {
    const h = this.half;
    const zr = this.zr;
    const zi = this.zi;
    const rev = this.fft.rev;
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
      const wi = s[k] as number; // O = D · e^{+2πik/N}
      const or = dr * wr - di * wi;
      const oi = dr * wi + di * wr;
      // Z[k] = E + i·O, conjugated so a forward FFT computes the inverse: ifft(Z) = conj(fft(conj Z)) / h
      const p = rev[k] as number;
      zr[p] = er - oi;
      zi[p] = -(ei + or);
    }
    this.fft.transformBitReversed(zr, zi);
    const scale = 1 / h;
    for (let m = 0; m < h; m++) {
      output[2 * m] = (zr[m] as number) * scale;
      output[2 * m + 1] = -(zi[m] as number) * scale;
    }
  }
}
