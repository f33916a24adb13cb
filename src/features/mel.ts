/**
 * Slaney-style mel scale and filterbank, ported from librosa 0.10 (`librosa.core.convert.hz_to_mel`,
 * `mel_to_hz`, `mel_frequencies`, `librosa.filters.mel` with htk=False, norm="slaney").
 */
import { FeatureError } from "./errors.js";

const F_SP = 200 / 3; // Hz per mel below 1 kHz
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOGSTEP = Math.log(6.4) / 27;

/** Hz → mel on the Slaney scale (linear below 1 kHz, logarithmic above), as librosa.hz_to_mel(htk=False). */
export function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
}

/** Mel → Hz, inverse of {@link hzToMel} (librosa.mel_to_hz(htk=False)). */
export function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/** `n` frequencies (Hz) evenly spaced in mel from fmin to fmax inclusive (librosa.mel_frequencies). */
export function melFrequencies(n: number, fmin: number, fmax: number): Float64Array {
  const lo = hzToMel(fmin);
  const hi = hzToMel(fmax);
  const out = new Float64Array(n);
  // np.linspace: lo + i * step, with the last point exactly hi
  const step = n > 1 ? (hi - lo) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out[i] = melToHz(i === n - 1 && n > 1 ? hi : lo + i * step);
  return out;
}

/** Options of {@link melFilterbank}. */
export interface MelOptions {
  /** Hz. */
  sampleRate: number;
  /** FFT size; the filterbank has 1 + nFft/2 columns. */
  nFft: number;
  nMels: number;
  /** Hz, default 0. */
  fmin?: number;
  /** Hz, default sampleRate / 2. */
  fmax?: number;
}

function melFilterbank64(options: MelOptions): Float64Array {
  const { sampleRate, nFft, nMels } = options;
  const fmin = options.fmin ?? 0;
  const fmax = options.fmax ?? sampleRate / 2;
  if (!(sampleRate > 0) || !Number.isInteger(nFft) || nFft < 2 || !Number.isInteger(nMels) || nMels < 1) {
    throw new FeatureError(`melFilterbank: bad options ${JSON.stringify(options)}`);
  }
  if (!(fmin >= 0 && fmin < fmax))
    throw new FeatureError(`melFilterbank: need 0 ≤ fmin < fmax, got fmin ${fmin} Hz, fmax ${fmax} Hz`);
  const nBins = 1 + Math.floor(nFft / 2);
  const melF = melFrequencies(nMels + 2, fmin, fmax);
  const weights = new Float64Array(nMels * nBins);
  for (let m = 0; m < nMels; m++) {
    const f0 = melF[m] as number;
    const f1 = melF[m + 1] as number;
    const f2 = melF[m + 2] as number;
    const enorm = 2 / (f2 - f0); // Slaney: each triangle has unit area in Hz
    for (let k = 0; k < nBins; k++) {
      const f = (k * sampleRate) / nFft; // np.fft.rfftfreq
      const lower = (f - f0) / (f1 - f0);
      const upper = (f2 - f) / (f2 - f1);
      const w = Math.max(0, Math.min(lower, upper));
      weights[m * nBins + k] = w * enorm;
    }
  }
  return weights;
}

/**
 * The mel filterbank of librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) (Slaney scale, Slaney
 * area normalisation: filter m is a triangle from mel centre m−1 to m+1, peaking at centre m, scaled
 * by 2 / (f[m+2] − f[m]) so its area in Hz is 1).
 *
 * @returns row-major [nMels, 1 + nFft/2]: `fb[m * nBins + k]` weights FFT bin k (frequency k·sr/nFft Hz)
 *   into mel band m. Multiply a power spectrum [nBins, frames] on the left to get [nMels, frames].
 */
export function melFilterbank(options: MelOptions): Float32Array {
  return Float32Array.from(melFilterbank64(options));
}

/** A mel filterbank stored by rows of nonzero weights: band m covers bins start[m] .. start[m]+len[m]-1. */
export interface SparseMel {
  nMels: number;
  nBins: number;
  start: Int32Array;
  length: Int32Array;
  /** Concatenated nonzero runs; band m's weights start at offset[m]. */
  offset: Int32Array;
  weights: Float64Array;
}

/** Sparse form of {@link melFilterbank} (each Slaney triangle touches only a few FFT bins). */
export function sparseMelFilterbank(options: MelOptions): SparseMel {
  const dense = melFilterbank64(options);
  const nMels = options.nMels;
  const nBins = 1 + Math.floor(options.nFft / 2);
  const start = new Int32Array(nMels);
  const length = new Int32Array(nMels);
  const offset = new Int32Array(nMels);
  const runs: number[] = [];
  for (let m = 0; m < nMels; m++) {
    let first = -1;
    let last = -1;
    for (let k = 0; k < nBins; k++) {
      if ((dense[m * nBins + k] as number) !== 0) {
        if (first < 0) first = k;
        last = k;
      }
    }
    offset[m] = runs.length;
    if (first >= 0) {
      start[m] = first;
      length[m] = last - first + 1;
      for (let k = first; k <= last; k++) runs.push(dense[m * nBins + k] as number);
    }
  }
  return { nMels, nBins, start, length, offset, weights: Float64Array.from(runs) };
}

/**
 * Moore–Penrose pseudo-inverse of a filterbank (what `np.linalg.pinv(mel_basis)` gives), computed as
 * Bᵀ (B Bᵀ)⁻¹ — valid because a mel filterbank with non-empty bands has full row rank. Bands that are
 * empty (all-zero rows, e.g. too many mels for the FFT size) are left out of the inverse (zero columns).
 *
 * @param fb row-major [nMels, nBins]
 * @returns row-major [nBins, nMels]; `pinv · melPower` is the least-squares-minimum-norm linear
 *   spectrum whose mel projection is `melPower`
 */
export function melPseudoInverse(
  fb: Float32Array | Float64Array,
  nMels: number,
  nBins: number,
): Float32Array {
  if (fb.length !== nMels * nBins)
    throw new FeatureError(
      `melPseudoInverse: filterbank has ${fb.length} values, expected ${nMels}×${nBins}`,
    );
  const rows: number[] = [];
  for (let m = 0; m < nMels; m++) {
    let any = false;
    for (let k = 0; k < nBins && !any; k++) any = (fb[m * nBins + k] as number) !== 0;
    if (any) rows.push(m);
  }
  const r = rows.length;
  // Gram matrix G = B Bᵀ (r × r), symmetric positive definite; solve G Y = B by Cholesky.
  const g = new Float64Array(r * r);
  for (let a = 0; a < r; a++) {
    const ra = (rows[a] as number) * nBins;
    for (let b = 0; b <= a; b++) {
      const rb = (rows[b] as number) * nBins;
      let s = 0;
      for (let k = 0; k < nBins; k++) s += (fb[ra + k] as number) * (fb[rb + k] as number);
      g[a * r + b] = s;
      g[b * r + a] = s;
    }
  }
  const l = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g[i * r + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * r + k] as number) * (l[j * r + k] as number);
      if (i === j) {
        if (!(s > 0)) throw new FeatureError("melPseudoInverse: filterbank rows are linearly dependent");
        l[i * r + i] = Math.sqrt(s);
      } else {
        l[i * r + j] = s / (l[j * r + j] as number);
      }
    }
  }
  // Y = G⁻¹ B (r × nBins); pinv = Yᵀ.
  const pinv = new Float32Array(nBins * nMels);
  const col = new Float64Array(r);
  for (let k = 0; k < nBins; k++) {
    for (let i = 0; i < r; i++) {
      let s = fb[(rows[i] as number) * nBins + k] as number;
      for (let j = 0; j < i; j++) s -= (l[i * r + j] as number) * (col[j] as number);
      col[i] = s / (l[i * r + i] as number);
    }
    for (let i = r - 1; i >= 0; i--) {
      let s = col[i] as number;
      for (let j = i + 1; j < r; j++) s -= (l[j * r + i] as number) * (col[j] as number);
      col[i] = s / (l[i * r + i] as number);
    }
    for (let i = 0; i < r; i++) pinv[k * nMels + (rows[i] as number)] = col[i] as number;
  }
  return pinv;
}
