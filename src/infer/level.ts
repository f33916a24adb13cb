/**
 * The signal-level gates of "no instrument" (issue 13 item 10: a constant 0.96 was named "bass
 * 0.96"), decided without running the model: how loud a window is once its DC and infrasound are
 * removed (silence, DC, or a drift below 20 Hz, which no instrument class plays and the mel bands
 * barely see), and how noise-like its spectrum is (white or pink noise, clicks).
 */
import { MixedRadixFft } from "../audio/fft.js";

/** Below this frequency a window's content counts as DC / drift, not sound (Hz). */
export const INFRASONIC_HZ = 20;

/** How long the high-pass runs before it is counted, in periods of its cutoff (0.2 s at 20 Hz). */
export const SETTLE_CUTOFF_PERIODS = 4;

/** Quality factors of the two biquads of a 4th-order Butterworth (1 / (2 cos(π/8)), 1 / (2 cos(3π/8))). */
const BUTTERWORTH4_Q = [1 / (2 * Math.cos(Math.PI / 8)), 1 / (2 * Math.cos((3 * Math.PI) / 8))] as const;

/** Normalised biquad coefficients [b0, b1, b2, a1, a2] of a high-pass (RBJ's Audio EQ Cookbook). */
function highPassBiquad(cutoffHz: number, sampleRate: number, q: number): number[] {
  const w = (2 * Math.PI * cutoffHz) / sampleRate;
  const alpha = Math.sin(w) / (2 * q);
  const cos = Math.cos(w);
  const a0 = 1 + alpha;
  return [(1 + cos) / 2 / a0, -(1 + cos) / a0, (1 + cos) / 2 / a0, (-2 * cos) / a0, (1 - alpha) / a0];
}

/**
 * RMS level in dBFS of `samples[start, end)` after a 4th-order Butterworth high-pass at `cutoffHz`
 * (−80 dB a decade below it). The filter starts at `start` in the steady state of its first sample
 * (a constant gives exactly −Infinity), and its first {@link SETTLE_CUTOFF_PERIODS} cutoff periods
 * (0.2 s at 20 Hz, by when its start-up transient is 80 dB down) are not counted unless the span is
 * shorter than twice that: a window is judged by its own samples only. Past the end of `samples`
 * nothing is counted, as in rmsDb.
 * @param sampleRate Hz of `samples`
 * @param cutoffHz default {@link INFRASONIC_HZ}
 */
export function audibleDb(
  samples: Float32Array,
  sampleRate: number,
  start = 0,
  end = samples.length,
  cutoffHz = INFRASONIC_HZ,
): number {
  const e = Math.min(end, samples.length);
  if (e <= start) return -Infinity;
  const [p0, p1, p2, p3, p4] = highPassBiquad(cutoffHz, sampleRate, BUTTERWORTH4_Q[0]);
  const [q0, q1, q2, q3, q4] = highPassBiquad(cutoffHz, sampleRate, BUTTERWORTH4_Q[1]);
  // two cascaded biquads (direct form I), unrolled: this runs over every sample of every window
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  let z1 = 0;
  let z2 = 0;
  const settle = Math.round((SETTLE_CUTOFF_PERIODS * sampleRate) / cutoffHz);
  const counted = e - start > 2 * settle ? start + settle : start;
  const offset = samples[start]!;
  let sum = 0;
  for (let i = start; i < e; i++) {
    const x = samples[i]! - offset;
    const y = p0! * x + p1! * x1 + p2! * x2 - p3! * y1 - p4! * y2;
    x2 = x1;
    x1 = x;
    const z = q0! * y + q1! * y1 + q2! * y2 - q3! * z1 - q4! * z2;
    y2 = y1;
    y1 = y;
    z2 = z1;
    z1 = z;
    sum += i >= counted ? z * z : 0;
  }
  const rms = Math.sqrt(sum / (e - counted));
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

/** Lowest and highest frequency of the band {@link spectralFlatness} looks at, Hz. */
const FLATNESS_BAND_HZ = [100, 7000] as const;

/** Frame length of {@link spectralFlatness}, seconds (rounded to a power of two of samples). */
const FLATNESS_FRAME_SECONDS = 0.064;

/**
 * How noise-like `samples[start, end)` is: the median over Hann-windowed frames (64 ms, half
 * overlapping) of the spectral flatness (Wiener entropy: geometric over arithmetic mean of the power
 * spectrum from 100 Hz to 7 kHz, or 0.45·rate if lower). White noise ≈ 0.56 (e^−γ), pink ≈ 0.33, a
 * click train ≈ 1; the harmonic partials of instruments put music below 0.05 (calibrate-none's
 * measurements). Frames quieter than `floorDb` dBFS RMS are not counted; 0 when none is louder.
 * @param samples at `sampleRate` Hz
 */
export function spectralFlatness(
  samples: Float32Array,
  sampleRate: number,
  start = 0,
  end = samples.length,
  floorDb = -60,
): number {
  const n = 2 ** Math.round(Math.log2(FLATNESS_FRAME_SECONDS * sampleRate));
  const fft = fftOfSize(n);
  const lo = Math.max(1, Math.ceil((FLATNESS_BAND_HZ[0] * n) / sampleRate));
  const hi = Math.min(
    n / 2 - 1,
    Math.floor((Math.min(FLATNESS_BAND_HZ[1], 0.45 * sampleRate) * n) / sampleRate),
  );
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  const floor = 10 ** (floorDb / 10);
  const values: number[] = [];
  const e = Math.min(end, samples.length);
  for (let s = start; s + n <= e; s += n / 2) {
    let energy = 0;
    for (let i = 0; i < n; i++) {
      const v = samples[s + i]!;
      energy += v * v;
      re[i] = v * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
    }
    if (energy / n < floor) continue;
    im.fill(0);
    fft.transform(re, im, outRe, outIm);
    let logSum = 0;
    let sum = 0;
    for (let k = lo; k <= hi; k++) {
      const p = outRe[k]! * outRe[k]! + outIm[k]! * outIm[k]! + 1e-30;
      logSum += Math.log(p);
      sum += p;
    }
    const bins = hi - lo + 1;
    values.push(Math.exp(logSum / bins) / (sum / bins));
  }
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

const ffts = new Map<number, MixedRadixFft>();
function fftOfSize(n: number): MixedRadixFft {
  let fft = ffts.get(n);
  if (fft === undefined) {
    fft = new MixedRadixFft(n);
    ffts.set(n, fft);
  }
  return fft;
}
