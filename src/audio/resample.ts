/**
 * Band-limited resampling with a Kaiser-windowed sinc filter (Smith's bandlimited interpolation, the
 * method behind resampy / libsamplerate).
 *
 * Default design: resampy's `kaiser_best` filter (64 zero crossings each side, roll-off 0.9475937 of
 * the lower Nyquist rate, Kaiser β = 14.769656459379492). Measured at 44.1 → 16 kHz
 * (test/audio.test.ts): flat within 0.01 dB up to 0.85 × the output Nyquist (−0.02 dB at 0.9×,
 * −7 dB at 0.95×), and everything that would alias (above 1.05 × Nyquist) comes out more than
 * 120 dB down.
 *
 * Two ways to apply the same filter h(t):
 * - "spectral" (integer rates whose reduced ratio L/M has no prime factor above 7, e.g. 44100 → 16000
 *   = 160/441, 48000 → 16000 = 1/3, 22050 → 16000 = 320/441): overlap-save blocks of M·K input and
 *   L·K output samples; each block's spectrum is multiplied by the filter's exact frequency response
 *   H(f) (closed form, see {@link kaiserSincResponse}) and transformed back at the output rate,
 *   folding the part above the output Nyquist back as the time-domain sum does. It leaves out the
 *   stopband beyond 2.5 window lobes past the cut-off (kaiser_best: |H| < 3e-8 there, which the
 *   time-domain sum would alias back), so the two agree to float32 rounding
 *   (test/audio-resample.test.ts) while the work per sample is O(log K) instead of 2·64/cutoff
 *   multiply-adds (`npm run bench:resample`). A NaN or infinite input sample spreads over its whole
 *   block (≈ 0.3 s) instead of the filter's reach.
 * - "direct" (every other ratio, and short inputs or cheap filters): the time-domain sum
 *   y[m] = Σ_k x[k]·h(m·from/to − k), with a precomputed coefficient table per phase when the
 *   ratio is rational with at most 4096 phases, symmetric taps for integer decimation, and
 *   coefficients computed per output sample otherwise.
 */
import { AudioError } from "./errors.js";
import { MixedRadixFft, fftRadices } from "./fft.js";

/** Filter design of {@link resample}. */
export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (filter half-length in output-rate periods). Default 64. */
  zeroCrossings?: number;
  /** Cut-off as a fraction of the lower of the two Nyquist rates. Default 0.9475937. */
  rolloff?: number;
  /** Kaiser window β. Default 14.769656459379492. */
  beta?: number;
  /**
   * "auto" (default) picks the faster of the two; "direct" forces the time-domain sum, "spectral"
   * the block-FFT path (an AudioError when the ratio does not allow it). Both apply the same filter.
   */
  method?: "auto" | "direct" | "spectral";
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

/**
 * The windowed sinc in units of input samples: h(t) = c·sinc(c·t)·I0(β√(1 − (t/T)²))/I0(β) for
 * |t| < T, with cut-off c = rolloff·min(1, to/from) (cycles per input sample × 2) and half-length
 * T = zeroCrossings / c.
 */
interface FilterDesign {
  cutoff: number;
  half: number;
  beta: number;
  i0beta: number;
  /** ceil(T): taps k with |t − k| < T satisfy floor(t) − reach < k ≤ floor(t) + reach. */
  reach: number;
}

function designFilter(fromRate: number, toRate: number, options: ResampleOptions): FilterDesign {
  const zeroCrossings = options.zeroCrossings ?? 64;
  const rolloff = options.rolloff ?? 0.9475937;
  const beta = options.beta ?? 14.769656459379492;
  if (!(zeroCrossings > 0 && rolloff > 0 && rolloff <= 1 && beta >= 0)) {
    throw new AudioError(
      `resample: expected zeroCrossings > 0, 0 < rolloff ≤ 1 and beta ≥ 0, got ${zeroCrossings}, ${rolloff}, ${beta}`,
    );
  }
  const cutoff = rolloff * Math.min(1, toRate / fromRate);
  const half = zeroCrossings / cutoff;
  return { cutoff, half, beta, i0beta: besselI0(beta), reach: Math.ceil(half) };
}

/**
 * How far the default filter (or `options`') reaches, in input samples either side of an output
 * sample (ceil of its half-length T): output n depends only on inputs within it of n · from / to.
 */
export function resampleReach(fromRate: number, toRate: number, options: ResampleOptions = {}): number {
  return designFilter(fromRate, toRate, options).reach;
}

function tap(d: FilterDesign, t: number): number {
  const r = t / d.half;
  if (r <= -1 || r >= 1) return 0;
  const w = besselI0(d.beta * Math.sqrt(1 - r * r)) / d.i0beta;
  const a = Math.PI * d.cutoff * t;
  return d.cutoff * (t === 0 ? 1 : Math.sin(a) / a) * w;
}

// 8-point Gauss–Legendre nodes and weights on [−1, 1].
const GL_X = [
  -0.9602898564975363, -0.7966664774136267, -0.525532409916329, -0.1834346424956498, 0.1834346424956498,
  0.525532409916329, 0.7966664774136267, 0.9602898564975363,
];
const GL_W = [
  0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.362683783378362, 0.362683783378362,
  0.3137066458778873, 0.2223810344533745, 0.1012285362903763,
];

/**
 * The continuous Fourier transform H(f) = ∫ h(t) e^{−2πift} dt of the filter (f in cycles per input
 * sample). The sinc is a box |f| < c/2 in frequency and the window's transform has a closed form
 * (Kaiser & Schafer): W(ν) = 2T·sinh(√(β² − (2πTν)²)) / (I0(β)·√(β² − (2πTν)²)) (sin for a negative
 * radicand), so H(f) = ∫_{f−c/2}^{f+c/2} W(ν) dν, integrated by 8-point Gauss–Legendre on steps of
 * 1/(16T) (W oscillates with period 1/T), which is exact to rounding. H(0) = 1 − (window leakage).
 *
 * @returns H for f in [0, fMax] (H is even)
 */
export function kaiserSincResponse(
  design: { cutoff: number; half: number; beta: number },
  fMax: number,
): (f: number) => number {
  const { cutoff, half: T, beta } = design;
  const scale = (2 * T) / besselI0(beta);
  const window = (nu: number): number => {
    const w = 2 * Math.PI * T * nu;
    const r = beta * beta - w * w;
    if (r > 1e-12) {
      const a = Math.sqrt(r);
      return (scale * Math.sinh(a)) / a;
    }
    if (r < -1e-12) {
      const a = Math.sqrt(-r);
      return (scale * Math.sin(a)) / a;
    }
    return scale;
  };
  const integral = (a: number, b: number): number => {
    const mid = (a + b) / 2;
    const h = (b - a) / 2;
    let sum = 0;
    for (let i = 0; i < 8; i++) sum += GL_W[i]! * window(mid + h * GL_X[i]!);
    return sum * h;
  };
  const step = 1 / (16 * T);
  const count = Math.ceil((fMax + cutoff / 2) / step) + 1;
  const cumulative = new Float64Array(count + 1); // ∫_0^{i·step} W
  for (let i = 0; i < count; i++) cumulative[i + 1] = cumulative[i]! + integral(i * step, (i + 1) * step);
  const antiderivative = (nu: number): number => {
    if (nu < 0) return -antiderivative(-nu);
    const i = Math.floor(nu / step);
    return cumulative[i]! + integral(i * step, nu);
  };
  return (f: number) => antiderivative(Math.abs(f) + cutoff / 2) - antiderivative(Math.abs(f) - cutoff / 2);
}

const MAX_PHASES = 4096;
/** Largest coefficient table (phases × taps) of the direct path; beyond it taps are computed per sample. */
const MAX_TABLE = 1 << 24;
/** Extra input samples kept at each block edge beyond the filter's reach (room for the tiny tails). */
const BLOCK_MARGIN = 16;
/** Largest FFT the spectral path builds, and the largest input block it considers. */
const MAX_FFT = 1 << 20;
const MAX_BLOCK = 1 << 16;
/**
 * Cost model, in nanoseconds measured on x86-64 (AMD EPYC, Node 20; only the ratios matter): one FFT
 * stage per point for each radix, the rest of a spectral block per input sample (copies, weighting),
 * building a plan per FFT point (twiddles, response), and one tap of the time-domain sum.
 */
const STAGE_NS: Readonly<Record<number, number>> = { 2: 1.5, 3: 1.9, 4: 2.0, 5: 2.4, 7: 3.4, 8: 2.4 };
const BLOCK_OVERHEAD_NS = 2;
const PLAN_NS_PER_POINT = 200;
const DIRECT_NS_PER_TAP = 1.2;
/**
 * "auto" takes the spectral path only for filters whose stopband is deep enough that leaving it out
 * past the kept band changes nothing at float32 precision: Kaiser β ≥ 13 (≈ 127 dB, by Kaiser's
 * A = β/0.1102 + 8.7). kaiser_best has β = 14.77; the synthesiser's β = 10 decimator stays direct.
 */
const AUTO_SPECTRAL_MIN_BETA = 13;

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
  const design = designFilter(fromRate, toRate, options);
  const method = options.method ?? "auto";
  const n = samples.length;
  const outLength = Math.ceil((n * toRate) / fromRate);
  const out = new Float32Array(outLength);

  // Rational ratio: step = M / L input samples per output sample.
  let L = 0;
  let M = 0;
  if (Number.isInteger(fromRate) && Number.isInteger(toRate)) {
    const g = gcd(fromRate, toRate);
    L = toRate / g;
    M = fromRate / g;
  }
  const spectralOk = L > 0 && fftRadices(L) !== undefined && fftRadices(M) !== undefined;
  if (method === "spectral" && !spectralOk) {
    throw new AudioError(
      `resample: the spectral method needs integer rates whose ratio has no prime factor above 7, got ${fromRate} Hz → ${toRate} Hz`,
    );
  }
  if (n === 0) return out;
  const decimation = L === 1 ? decimationTaps(design) : undefined;
  if (spectralOk && method !== "direct") {
    const blocks = blockLayout(design, L, M);
    const taps = decimation !== undefined ? 2 * decimation.lags.length + 1 : 2 * design.reach;
    const cheaper = () =>
      spectralCostNs(blocks, outLength, design, L, M) < outLength * taps * DIRECT_NS_PER_TAP;
    if (
      blocks !== undefined &&
      (method === "spectral" || (design.beta >= AUTO_SPECTRAL_MIN_BETA && cheaper()))
    ) {
      resampleSpectral(samples, spectralPlan(design, L, M, blocks), out);
      return out;
    }
    if (method === "spectral") {
      throw new AudioError(
        `resample: ${fromRate} Hz → ${toRate} Hz needs blocks larger than the spectral method's ${MAX_FFT}-point FFT limit`,
      );
    }
  }
  if (decimation !== undefined) decimate(samples, M, decimation, out);
  else if (L > 0 && L <= MAX_PHASES && L * 2 * design.reach <= MAX_TABLE) {
    resamplePolyphase(samples, L, M, design, out);
  } else resampleAnyRatio(samples, fromRate / toRate, design, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Spectral path

interface SpectralPlan {
  /** Input / output block lengths (M·K, L·K). */
  nIn: number;
  nOut: number;
  /** Input samples of context kept at each side of a block (a·M), and the output samples they make (a·L). */
  padIn: number;
  padOut: number;
  /** New input / output samples per block. */
  hopIn: number;
  hopOut: number;
  fftIn: MixedRadixFft;
  fftOut: MixedRadixFft;
  /**
   * Output bin k gathers Σ_j H(j/nIn)/nIn · X[j mod nIn] over input bins j ≡ k (mod nOut), |j| ≤ jMax.
   * Bins |j| ≤ direct.length − 1 land on distinct output bins (±j); `direct[|j|]` is their weight.
   * The other terms (folded from above the output Nyquist, or images when upsampling) are listed in
   * extraOut / extraIn / extraWeight.
   */
  direct: Float64Array;
  extraOut: Int32Array;
  extraIn: Int32Array;
  extraWeight: Float64Array;
  /** Work buffers: input pair, its spectrum, output spectrum, output pair. */
  bufs: Float64Array[];
}

const planCache = new Map<string, SpectralPlan>();
const PLAN_CACHE_SIZE = 16;

/** Estimated nanoseconds of one FFT of size n (see {@link STAGE_NS}). */
function fftCostNs(n: number): number {
  let perPoint = 0;
  for (const r of fftRadices(n) ?? []) perPoint += STAGE_NS[r]!;
  // Stockham butterflies read legs n/r points apart: when that is a multiple of 4 KiB (n a multiple of
  // 2048 doubles for radix 4 and up) the legs collide in the L1 cache's sets (measured ~1.3× slower).
  return n * perPoint * (n % 2048 === 0 ? 1.3 : 1);
}

/** Estimated nanoseconds of one pair of blocks (two input blocks of M·K samples → 2·(K − 2a)·L outputs). */
function pairCostNs(L: number, M: number, K: number): number {
  return fftCostNs(M * K) + fftCostNs(L * K) + 2 * BLOCK_OVERHEAD_NS * M * K;
}

/** 7-smooth integers (2^a·3^b·5^c·7^d) in [lo, hi], ascending. */
function smoothNumbers(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let a = 1; a <= hi; a *= 2)
    for (let b = a; b <= hi; b *= 3)
      for (let c = b; c <= hi; c *= 5) for (let d = c; d <= hi; d *= 7) if (d >= lo) out.push(d);
  return out.sort((x, y) => x - y);
}

/** Block shape of the spectral path: input blocks of M·K samples with a·M samples of context each side. */
interface BlockLayout {
  K: number;
  a: number;
}

/**
 * The block factor K with the least estimated work per output sample among the 7-smooth K ≥ 4a (at
 * least half of each block new samples); undefined when even the smallest needs an FFT above MAX_FFT.
 */
function blockLayout(design: FilterDesign, L: number, M: number): BlockLayout | undefined {
  const a = Math.ceil((design.reach + BLOCK_MARGIN) / M);
  const kLow = 4 * a;
  const kHigh = Math.max(2 * kLow, Math.floor(MAX_BLOCK / M));
  let best: BlockLayout | undefined;
  let bestCost = Infinity;
  for (const K of smoothNumbers(kLow, kHigh)) {
    if (M * K > MAX_FFT || L * K > MAX_FFT) break;
    const cost = pairCostNs(L, M, K) / (K - 2 * a);
    if (cost < bestCost) {
      bestCost = cost;
      best = { K, a };
    }
  }
  return best;
}

const planKey = (design: FilterDesign, L: number, M: number, K: number): string =>
  `${design.cutoff}/${design.half}/${design.beta}/${L}/${M}/${K}`;

/** Estimated nanoseconds of the spectral path for outLength outputs, plan building included when not cached. */
function spectralCostNs(
  blocks: BlockLayout | undefined,
  outLength: number,
  design: FilterDesign,
  L: number,
  M: number,
): number {
  if (blocks === undefined) return Infinity;
  const { K, a } = blocks;
  const pairs = Math.ceil(Math.ceil(outLength / ((K - 2 * a) * L)) / 2);
  const plan = planCache.has(planKey(design, L, M, K)) ? 0 : PLAN_NS_PER_POINT * (L + M) * K;
  return pairs * pairCostNs(L, M, K) + plan;
}

/** The (cached) spectral plan for this design, ratio and block layout. */
function spectralPlan(design: FilterDesign, L: number, M: number, blocks: BlockLayout): SpectralPlan {
  const { K, a } = blocks;
  const key = planKey(design, L, M, K);
  const cached = planCache.get(key);
  if (cached !== undefined) {
    planCache.delete(key); // most recently used last
    planCache.set(key, cached);
    return cached;
  }
  const nIn = M * K;
  const nOut = L * K;
  // Keep input frequencies up to the end of the transition band and ~1.5 lobes of the window's
  // spectrum beyond (2πTν = β marks the window's first null); past that |H| < 3e-7.
  const lobe = design.beta / (2 * Math.PI * design.half);
  const fKeep = design.cutoff / 2 + 2.5 * Math.max(lobe, 1 / design.half);
  const response = kaiserSincResponse(design, fKeep);
  const jMax = Math.floor(fKeep * nIn);
  const weights = new Float64Array(jMax + 1);
  for (let j = 0; j <= jMax; j++) weights[j] = response(j / nIn) / nIn;
  const jDirect = Math.min(jMax, Math.floor((nOut - 1) / 2), Math.floor((nIn - 1) / 2));
  const extraOut: number[] = [];
  const extraIn: number[] = [];
  const extraWeight: number[] = [];
  for (let j = -jMax; j <= jMax; j++) {
    if (Math.abs(j) <= jDirect) continue;
    extraOut.push(((j % nOut) + nOut) % nOut);
    extraIn.push(((j % nIn) + nIn) % nIn);
    extraWeight.push(weights[Math.abs(j)]!);
  }
  const plan: SpectralPlan = {
    nIn,
    nOut,
    padIn: a * M,
    padOut: a * L,
    hopIn: (K - 2 * a) * M,
    hopOut: (K - 2 * a) * L,
    fftIn: new MixedRadixFft(nIn),
    fftOut: new MixedRadixFft(nOut),
    direct: weights.slice(0, jDirect + 1),
    extraOut: Int32Array.from(extraOut),
    extraIn: Int32Array.from(extraIn),
    extraWeight: Float64Array.from(extraWeight),
    bufs: [nIn, nIn, nIn, nIn, nOut, nOut, nOut, nOut].map((len) => new Float64Array(len)),
  };
  if (planCache.size >= PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value as string);
  planCache.set(key, plan);
  return plan;
}

/** Copies x[start … start + dst.length) into dst, zero outside the signal. */
function loadBlock(x: Float32Array, start: number, dst: Float64Array): void {
  const len = dst.length;
  const from = Math.min(len, Math.max(0, -start));
  const to = Math.max(from, Math.min(len, x.length - start));
  dst.fill(0, 0, from);
  dst.set(x.subarray(start + from, start + to), from);
  dst.fill(0, to, len);
}

/**
 * Overlap-save over pairs of blocks. The filter is real, so it acts on a complex signal a + i·b as
 * on a and b apart: two input blocks go through one complex FFT (block A as the real part, B as the
 * imaginary part), the spectrum is weighted and folded onto the output bins, and one inverse FFT
 * (a forward FFT with real and imaginary parts swapped on the way in and out) gives both output
 * blocks. A block's first and last padOut outputs are discarded (wrap-around).
 */
function resampleSpectral(x: Float32Array, plan: SpectralPlan, out: Float32Array): void {
  const { nIn, nOut, padIn, padOut, hopIn, hopOut, direct, extraOut, extraIn, extraWeight } = plan;
  const [inRe, inIm, zRe, zIm, wRe, wIm, yIm, yRe] = plan.bufs as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const jDirect = direct.length - 1;
  const extras = extraOut.length;
  const blocks = Math.ceil(out.length / hopOut);
  for (let b = 0; b < blocks; b += 2) {
    loadBlock(x, b * hopIn - padIn, inRe);
    if (b + 1 < blocks) loadBlock(x, (b + 1) * hopIn - padIn, inIm);
    else inIm.fill(0);
    plan.fftIn.transform(inRe, inIm, zRe, zIm);
    wRe[0] = direct[0]! * zRe[0]!;
    wIm[0] = direct[0]! * zIm[0]!;
    for (let j = 1; j <= jDirect; j++) {
      const w = direct[j]!;
      wRe[j] = w * zRe[j]!;
      wIm[j] = w * zIm[j]!;
      wRe[nOut - j] = w * zRe[nIn - j]!;
      wIm[nOut - j] = w * zIm[nIn - j]!;
    }
    wRe.fill(0, jDirect + 1, nOut - jDirect);
    wIm.fill(0, jDirect + 1, nOut - jDirect);
    for (let t = 0; t < extras; t++) {
      const k = extraOut[t]!;
      const bin = extraIn[t]!;
      const w = extraWeight[t]!;
      wRe[k] = wRe[k]! + w * zRe[bin]!;
      wIm[k] = wIm[k]! + w * zIm[bin]!;
    }
    // inverse DFT = swap(FFT(swap(W))), swap(z) = i·conj(z): real and imaginary parts exchanged
    plan.fftOut.transform(wIm, wRe, yIm, yRe);
    const baseA = b * hopOut;
    out.set(yRe.subarray(padOut, padOut + Math.min(hopOut, out.length - baseA)), baseA);
    const baseB = baseA + hopOut;
    if (baseB < out.length)
      out.set(yIm.subarray(padOut, padOut + Math.min(hopOut, out.length - baseB)), baseB);
  }
}

// ---------------------------------------------------------------------------------------------
// Direct (time-domain) paths

/**
 * General rational ratio with L phases: out[m] = Σ_j table[p][j]·x[base − reach + 1 + j] with
 * base = floor(m·M/L), p = m·M mod L. The input is copied once into a zero-padded Float64Array so
 * the inner loop has no edge tests; four partial sums keep the adds independent.
 */
function resamplePolyphase(
  x: Float32Array,
  L: number,
  M: number,
  design: FilterDesign,
  out: Float32Array,
): void {
  const reach = design.reach;
  const taps = 4 * Math.ceil((2 * reach) / 4);
  const table = new Float64Array(L * taps);
  for (let p = 0; p < L; p++) {
    // tap j covers input index base − reach + 1 + j, at distance t = p/L + reach − 1 − j
    for (let j = 0; j < 2 * reach; j++) table[p * taps + j] = tap(design, p / L + reach - 1 - j);
  }
  const n = x.length;
  const padded = new Float64Array(n + 2 * reach + taps);
  for (let i = 0; i < n; i++) padded[reach + i] = x[i]!;
  const stepBase = Math.floor(M / L);
  const stepPhase = M % L;
  let base = 0;
  let phase = 0;
  for (let m = 0; m < out.length; m++) {
    const row = phase * taps;
    const k0 = base + 1; // padded index of x[base − reach + 1]
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = 0; j < taps; j += 4) {
      a0 += table[row + j]! * padded[k0 + j]!;
      a1 += table[row + j + 1]! * padded[k0 + j + 1]!;
      a2 += table[row + j + 2]! * padded[k0 + j + 2]!;
      a3 += table[row + j + 3]! * padded[k0 + j + 3]!;
    }
    out[m] = a0 + a1 + (a2 + a3);
    base += stepBase;
    phase += stepPhase;
    if (phase >= L) {
      phase -= L;
      base++;
    }
  }
}

/** Coefficients of the symmetric one-phase filter of integer decimation. */
interface DecimationTaps {
  h0: number;
  lags: Int32Array;
  coefs: Float64Array;
}

/**
 * The `L = 1` filter: h(t), t = −reach…reach, symmetric, keeping only the non-zero taps: a
 * half-band filter (rolloff 1 at M = 2) has every second tap zero (sin(πk) ≈ 1e-16 in floating
 * point, so taps below 1e-12 · h(0) count as zero).
 */
function decimationTaps(design: FilterDesign): DecimationTaps {
  const h0 = tap(design, 0);
  const lagList: number[] = [];
  const coefList: number[] = [];
  for (let t = 1; t < design.reach; t++) {
    const c = tap(design, t);
    if (Math.abs(c) > 1e-12 * Math.abs(h0)) {
      lagList.push(t);
      coefList.push(c);
    }
  }
  return { h0, lags: Int32Array.from(lagList), coefs: Float64Array.from(coefList) };
}

/**
 * Integer decimation by `M`: out[m] = h(0)·x[c] + Σ_{t≥1} h(t)·(x[c − t] + x[c + t]), c = M·m
 * (half the multiplies of the general sum). Writes `out` (length ceil(n / M)).
 */
function decimate(x: Float32Array, M: number, taps: DecimationTaps, out: Float32Array): void {
  const n = x.length;
  const { h0, lags, coefs } = taps;
  const count = lags.length;
  const last = count > 0 ? lags[count - 1]! : 0; // the largest lag
  for (let m = 0; m < out.length; m++) {
    const c = m * M;
    let acc = h0 * x[c]!;
    if (c - last >= 0 && c + last < n) {
      for (let k = 0; k < count; k++) {
        const t = lags[k]!;
        acc += coefs[k]! * (x[c - t]! + x[c + t]!);
      }
    } else {
      for (let k = 0; k < count; k++) {
        const t = lags[k]!;
        const a = c - t >= 0 ? x[c - t]! : 0;
        const b = c + t < n ? x[c + t]! : 0;
        acc += coefs[k]! * (a + b);
      }
    }
    out[m] = acc;
  }
}

/** Any ratio (non-integer rates, more than 4096 phases, or a huge table): coefficients per output sample. */
function resampleAnyRatio(x: Float32Array, step: number, design: FilterDesign, out: Float32Array): void {
  const n = x.length;
  const reach = design.reach;
  const taps = 2 * reach;
  const coeffs = new Float64Array(taps);
  for (let m = 0; m < out.length; m++) {
    const t = m * step;
    const base = Math.floor(t);
    const frac = t - base;
    const k0 = base - reach + 1;
    const jStart = Math.max(0, -k0);
    const jEnd = Math.min(taps, n - k0);
    let acc = 0;
    for (let j = jStart; j < jEnd; j++) acc += tap(design, frac + reach - 1 - j) * x[k0 + j]!;
    out[m] = acc;
  }
}
