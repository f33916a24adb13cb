/**
 * Band-limited resampling with a Kaiser-windowed sinc filter (Smith's bandlimited interpolation, the
 * method behind resampy / libsamplerate), polyphase when the rate ratio is rational with a modest
 * denominator (every integer rate pair in practice, e.g. 44100 → 16000 is 160/441).
 *
 * Default design: resampy's `kaiser_best` filter (64 zero crossings each side, roll-off 0.9475937 of
 * the lower Nyquist rate, Kaiser β = 14.769656459379492). Measured at 44.1 → 16 kHz
 * (test/audio.test.ts): flat within 0.01 dB up to 0.85 × the output Nyquist (−0.02 dB at 0.9×,
 * −7 dB at 0.95×), and everything that would alias (above 1.05 × Nyquist) comes out more than
 * 120 dB down.
 */
import { AudioError } from "./errors.js";

/** Filter design of {@link resample}. */
export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (filter half-length in output-rate periods). Default 64. */
  zeroCrossings?: number;
  /** Cut-off as a fraction of the lower of the two Nyquist rates. Default 0.9475937. */
  rolloff?: number;
  /** Kaiser window β. Default 14.769656459379492. */
  beta?: number;
}

/** Zeroth-order modified Bessel function of the first kind (power series; converges fast for β ≤ 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const MAX_PHASES = 4096;

/**
 * Resamples a mono signal from `fromRate` to `toRate` (Hz) with an anti-aliasing windowed-sinc filter.
 * The signal is taken as zero outside its ends; the output is aligned so output sample n sits at
 * input time n · fromRate / toRate, and has ceil(length · toRate / fromRate) samples (as resampy /
 * librosa do). The input is not modified.
 *
 * @param samples mono signal, any length
 * @param fromRate input rate in Hz (positive, finite)
 * @param toRate output rate in Hz (positive, finite)
 * @returns a new Float32Array (a copy when the rates are equal)
 */
export function resample(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
  options: ResampleOptions = {},
): Float32Array {
  if (!(fromRate > 0 && Number.isFinite(fromRate) && toRate > 0 && Number.isFinite(toRate))) {
    throw new AudioError(
      `resample: sample rates must be positive and finite, got ${fromRate} Hz → ${toRate} Hz`,
    );
  }
  if (fromRate === toRate) return Float32Array.from(samples);
  const zeroCrossings = options.zeroCrossings ?? 64;
  const rolloff = options.rolloff ?? 0.9475937;
  const beta = options.beta ?? 14.769656459379492;
  const n = samples.length;
  const outLength = Math.ceil((n * toRate) / fromRate);
  const out = new Float32Array(outLength);
  if (n === 0) return out;

  // Filter in units of input samples: h(t) = c·sinc(c·t)·kaiser(t / half), c = cutoff (cycles per
  // input sample × 2), nonzero for |t| < half.
  const cutoff = rolloff * Math.min(1, toRate / fromRate);
  const half = zeroCrossings / cutoff;
  const i0beta = besselI0(beta);
  const h = (t: number): number => {
    const r = t / half;
    if (r <= -1 || r >= 1) return 0;
    const w = besselI0(beta * Math.sqrt(1 - r * r)) / i0beta;
    const a = Math.PI * cutoff * t;
    return cutoff * (t === 0 ? 1 : Math.sin(a) / a) * w;
  };
  const reach = Math.ceil(half); // taps k with |t_n - k| < half satisfy floor(t_n) - reach < k ≤ floor(t_n) + reach
  const taps = 2 * reach;

  // Rational ratio step = M / L input samples per output sample, with L phases when the rates are integers.
  let L = 0;
  let M = 0;
  if (Number.isInteger(fromRate) && Number.isInteger(toRate)) {
    const g = gcd(fromRate, toRate);
    L = toRate / g;
    M = fromRate / g;
  }
  const usePhases = L > 0 && L <= MAX_PHASES;
  if (usePhases && L === 1) {
    decimate(samples, M, h, reach, out);
    return out;
  }
  let table: Float64Array | undefined;
  if (usePhases) {
    table = new Float64Array(L * taps);
    for (let p = 0; p < L; p++) {
      const frac = p / L;
      // tap j covers input index base - reach + 1 + j, at distance t = frac + reach - 1 - j
      for (let j = 0; j < taps; j++) table[p * taps + j] = h(frac + reach - 1 - j);
    }
  }
  const coeffs = new Float64Array(taps);
  for (let m = 0; m < outLength; m++) {
    let base: number;
    let row: Float64Array;
    let rowOffset = 0;
    if (usePhases && table !== undefined) {
      const num = m * M;
      base = Math.floor(num / L);
      rowOffset = (num - base * L) * taps;
      row = table;
    } else {
      const t = (m * fromRate) / toRate;
      base = Math.floor(t);
      const frac = t - base;
      for (let j = 0; j < taps; j++) coeffs[j] = h(frac + reach - 1 - j);
      row = coeffs;
    }
    const k0 = base - reach + 1;
    const jStart = Math.max(0, -k0);
    const jEnd = Math.min(taps, n - k0);
    let acc = 0;
    for (let j = jStart; j < jEnd; j++) acc += (row[rowOffset + j] as number) * (samples[k0 + j] as number);
    out[m] = acc;
  }
  return out;
}

/**
 * Integer decimation by `M` (the `L = 1` case of {@link resample}): one phase, so the filter is the
 * symmetric sequence h(t), t = −reach…reach, and out[m] = Σ_t h(t) · x[M·m − t]. Only the kept
 * outputs are computed, each as h(0)·x[c] + Σ_{t≥1} h(t)·(x[c − t] + x[c + t]) (half the
 * multiplies), over the non-zero taps only: a half-band filter (rolloff 1 at M = 2) has every second
 * tap zero (sin(πk) ≈ 1e-16 in floating point, so taps below 1e-12 · h(0) count as zero). Otherwise
 * the same filter as the general path; only the summation order differs (≈ 1e-16 relative).
 * Writes `out` (length ceil(n / M)).
 */
function decimate(
  x: Float32Array,
  M: number,
  h: (t: number) => number,
  reach: number,
  out: Float32Array,
): void {
  const n = x.length;
  const h0 = h(0);
  const lagList: number[] = [];
  const coefList: number[] = [];
  for (let t = 1; t < reach; t++) {
    const c = h(t);
    if (Math.abs(c) > 1e-12 * Math.abs(h0)) {
      lagList.push(t);
      coefList.push(c);
    }
  }
  const lags = Int32Array.from(lagList);
  const coefs = Float64Array.from(coefList);
  const taps = lags.length;
  const last = taps > 0 ? lags[taps - 1]! : 0; // the largest lag
  for (let m = 0; m < out.length; m++) {
    const c = m * M;
    let acc = h0 * x[c]!;
    if (c - last >= 0 && c + last < n) {
      for (let k = 0; k < taps; k++) {
        const t = lags[k]!;
        acc += coefs[k]! * (x[c - t]! + x[c + t]!);
      }
    } else {
      for (let k = 0; k < taps; k++) {
        const t = lags[k]!;
        const a = c - t >= 0 ? x[c - t]! : 0;
        const b = c + t < n ? x[c + t]! : 0;
        acc += coefs[k]! * (a + b);
      }
    }
    out[m] = acc;
  }
}
