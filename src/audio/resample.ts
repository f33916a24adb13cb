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
 * Three ways to apply the same filter h(t):
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
 * - "polyphase": the coefficient-table sum of "direct" for any rational ratio (integer decimation
 *   included), in the native addon's kernel (native/src/resample.cc: four outputs of one phase at a
 *   time, AVX2, blocks of outputs shared over threads) when it is loaded, else in TypeScript with the
 *   same order of operations, so both give the same samples bit for bit. "auto" takes it whenever
 *   the kernel is there (and the filter is one "auto" would take the spectral path for): each output
 *   sample is computed alone from its own inputs.
 *
 * The choice depends on the rates, the signal's length and the options alone, and
 * {@link resampleLayout} tells how the output splits (any range for the polyphase sum, pairs of
 * blocks for the spectral path), so a signal resampled in pieces (src/audio/stream.ts) gives exactly
 * the whole signal's samples.
 */
import { loadOptionalKernel, type OptionalKernel } from "../engine/addon-path.js";
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
   * "auto" (default) picks the fastest; "direct" forces the time-domain sum in TypeScript,
   * "spectral" the block-FFT path, "polyphase" the coefficient-table sum (native kernel or its
   * TypeScript twin); the last two are an AudioError when the ratio does not allow them. All apply
   * the same filter.
   */
  method?: "auto" | "direct" | "spectral" | "polyphase";
  /** Use the native kernel when it is loaded (default true); false: its TypeScript twin (tests, benchmarks). */
  native?: boolean;
  /** Threads of the native kernel (default: the machine's hardware threads). */
  threads?: number;
  /** SIMD build of the native kernel (tests): "auto" (default) or one this CPU runs. */
  kernelIsa?: "auto" | "avx512" | "avx2" | "baseline";
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
 * and one tap of the time-domain sum.
 */
const STAGE_NS: Readonly<Record<number, number>> = { 2: 1.5, 3: 1.9, 4: 2.0, 5: 2.4, 7: 3.4, 8: 2.4 };
const BLOCK_OVERHEAD_NS = 2;
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
  if (fromRate === toRate && fromRate > 0 && Number.isFinite(fromRate)) return Float32Array.from(samples);
  const layout = resampleLayout(fromRate, toRate, samples.length, options);
  return layout.outputs(samples, 0, 0, layout.outputLength);
}

/**
 * How {@link resample} computes the output of a signal of a given length, so that a stream can
 * compute it in pieces and get exactly the whole signal's samples (src/audio/stream.ts).
 */
export interface ResampleLayout {
  /** Output samples in all: ceil(inputLength · to / from). */
  readonly outputLength: number;
  /**
   * Where pieces of the output may start: any output (1: each output sample is computed on its own,
   * the polyphase method), multiples of `granule` (the spectral path's pairs of blocks), or only
   * the whole output at once (0).
   */
  readonly granule: number;
  /** The input samples [start, end) that outputs [o0, o1) read (within the signal). */
  inputSpan(o0: number, o1: number): [number, number];
  /**
   * Outputs [o0, o1) (o0 a multiple of `granule`; o1 one too, or the output's end), exactly as
   * resample gives them, from `piece`: the signal's samples pieceStart … (holding inputSpan(o0, o1)).
   */
  outputs(piece: Float32Array, pieceStart: number, o0: number, o1: number): Float32Array;
}

/** The input and output of one run: `piece` holds the signal's samples start…; the signal has `length`. */
interface Piece {
  x: Float32Array;
  start: number;
  length: number;
}

/**
 * The {@link ResampleLayout} of `resample(signal, fromRate, toRate, options)` for a signal of
 * `inputLength` samples: which method runs (decided from the rates, the length and the options
 * alone, so the whole signal and its pieces take the same one) and how its outputs split.
 * @throws AudioError for bad rates or a method the ratio does not allow
 */
export function resampleLayout(
  fromRate: number,
  toRate: number,
  inputLength: number,
  options: ResampleOptions = {},
): ResampleLayout {
  if (!(fromRate > 0 && Number.isFinite(fromRate) && toRate > 0 && Number.isFinite(toRate))) {
    throw new AudioError(
      `resample: sample rates must be positive and finite, got ${fromRate} Hz → ${toRate} Hz`,
    );
  }
  const n = inputLength;
  const outputLength = fromRate === toRate ? n : Math.ceil((n * toRate) / fromRate);
  const whole = (run: (piece: Piece, out: Float32Array) => void): ResampleLayout => ({
    outputLength,
    granule: 0,
    inputSpan: () => [0, n],
    outputs(piece, pieceStart, o0, o1) {
      if (pieceStart !== 0 || piece.length < n || o0 !== 0 || o1 !== outputLength)
        throw new RangeError(
          `resample: this method computes all ${outputLength} outputs from the whole signal at once`,
        );
      const out = new Float32Array(outputLength);
      if (n > 0) run({ x: piece.subarray(0, n), start: 0, length: n }, out);
      return out;
    },
  });
  if (fromRate === toRate) return whole((piece, out) => out.set(piece.x.subarray(0, n)));
  const design = designFilter(fromRate, toRate, options);
  const method = options.method ?? "auto";

  // Rational ratio: step = M / L input samples per output sample.
  const [L, M] = reducedRatio(fromRate, toRate);
  const spectralOk = L > 0 && fftRadices(L) !== undefined && fftRadices(M) !== undefined;
  if (method === "spectral" && !spectralOk) {
    throw new AudioError(
      `resample: the spectral method needs integer rates whose ratio has no prime factor above 7, got ${fromRate} Hz → ${toRate} Hz`,
    );
  }
  const tableOk = polyphaseFits(design, L);
  if (method === "polyphase" && !tableOk) throw polyphaseRefused(fromRate, toRate);
  // the addon is loaded only where it would be used
  const wantsKernel =
    options.native !== false &&
    (method === "polyphase" || (method === "auto" && tableOk && design.beta >= AUTO_SPECTRAL_MIN_BETA));
  const kernel = wantsKernel ? resampleKernel() : null;
  const polyphase = (kernelOrNull: ResampleKernelBinding | null): ResampleLayout => ({
    outputLength,
    granule: 1,
    inputSpan: (o0, o1) => [
      Math.max(0, Math.floor((o0 * M) / L) - design.reach + 1),
      Math.min(n, Math.floor(((o1 - 1) * M) / L) + design.reach + 1),
    ],
    outputs(piece, pieceStart, o0, o1) {
      const out = new Float32Array(o1 - o0);
      if (n > 0 && o1 > o0) {
        const plan = polyphasePlan(design, L, M);
        runPolyphase(plan, piece, pieceStart, n, o0, out, kernelOrNull, options);
      }
      return out;
    },
  });
  if (method === "polyphase" || (method === "auto" && kernel !== null)) return polyphase(kernel);
  const decimation = L === 1 ? decimationTaps(design) : undefined;
  if (spectralOk && method !== "direct") {
    const blocks = blockLayout(design, L, M);
    const taps = decimation !== undefined ? 2 * decimation.lags.length + 1 : 2 * design.reach;
    const cheaper = () =>
      spectralCostNs(blocks, outputLength, L, M) < outputLength * taps * DIRECT_NS_PER_TAP;
    if (
      blocks !== undefined &&
      (method === "spectral" || (design.beta >= AUTO_SPECTRAL_MIN_BETA && cheaper()))
    ) {
      return spectralLayout(design, L, M, blocks, n, outputLength);
    }
    if (method === "spectral" && n > 0) {
      throw new AudioError(
        `resample: ${fromRate} Hz → ${toRate} Hz needs blocks larger than the spectral method's ${MAX_FFT}-point FFT limit`,
      );
    }
  }
  if (decimation !== undefined) return whole((piece, out) => decimate(piece.x, M, decimation, out));
  if (tableOk) return polyphase(null);
  return whole((piece, out) => resampleAnyRatio(piece.x, fromRate / toRate, design, out));
}

/** The reduced ratio toRate / fromRate = L / M of integer rates; [0, 0] for other rates. */
function reducedRatio(fromRate: number, toRate: number): [number, number] {
  if (!Number.isInteger(fromRate) || !Number.isInteger(toRate)) return [0, 0];
  const g = gcd(fromRate, toRate);
  return [toRate / g, fromRate / g];
}

const polyphaseRefused = (fromRate: number, toRate: number): AudioError =>
  new AudioError(
    `resample: the polyphase method needs integer rates whose reduced ratio has at most ${MAX_PHASES} output phases, got ${fromRate} Hz → ${toRate} Hz`,
  );

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

/**
 * Estimated nanoseconds of the spectral path for outLength outputs. Building the plan is left out
 * (it is cached): the choice depends on the rates and the length alone, so a signal and its pieces
 * (src/audio/stream.ts) take the same path.
 */
function spectralCostNs(blocks: BlockLayout | undefined, outLength: number, L: number, M: number): number {
  if (blocks === undefined) return Infinity;
  const { K, a } = blocks;
  const pairs = Math.ceil(Math.ceil(outLength / ((K - 2 * a) * L)) / 2);
  return pairs * pairCostNs(L, M, K);
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

/** Copies the signal's samples start … start + dst.length − 1 into dst, zero outside the signal (and the piece). */
function loadBlock(piece: Piece, start: number, dst: Float64Array): void {
  const len = dst.length;
  const from = Math.min(len, Math.max(0, -start, piece.start - start));
  const to = Math.max(from, Math.min(len, piece.length - start, piece.start + piece.x.length - start));
  const offset = start - piece.start;
  dst.fill(0, 0, from);
  dst.set(piece.x.subarray(offset + from, offset + to), from);
  dst.fill(0, to, len);
}

/**
 * The layout of the spectral path: outputs come in pairs of blocks, 2·hopOut at a time from output
 * 0 on; the pair (b, b + 1) reads input blocks b and b + 1 (nIn samples from b·hopIn − padIn), the
 * last pair block b alone when the block count is odd.
 */
function spectralLayout(
  design: FilterDesign,
  L: number,
  M: number,
  blocks: BlockLayout,
  n: number,
  outputLength: number,
): ResampleLayout {
  const { K, a } = blocks;
  const hopIn = (K - 2 * a) * M;
  const hopOut = (K - 2 * a) * L;
  const padIn = a * M;
  const nIn = M * K;
  const totalBlocks = Math.ceil(outputLength / hopOut);
  /** The blocks that outputs [o0, o1) take: pairs from o0's block on, within the signal's blocks. */
  const blockRange = (o0: number, o1: number): [number, number] => {
    const first = Math.floor(o0 / hopOut);
    const pairs = Math.ceil((Math.ceil(o1 / hopOut) - first) / 2);
    return [first, Math.min(totalBlocks, first + 2 * pairs)];
  };
  return {
    outputLength,
    granule: 2 * hopOut,
    inputSpan(o0, o1) {
      const [first, end] = blockRange(o0, o1);
      return [Math.max(0, first * hopIn - padIn), Math.min(n, (end - 1) * hopIn - padIn + nIn)];
    },
    outputs(piece, pieceStart, o0, o1) {
      if (o0 % (2 * hopOut) !== 0 || (o1 !== outputLength && o1 % (2 * hopOut) !== 0))
        throw new RangeError(
          `resample: outputs ${o0}…${o1} do not start and end at pairs of ${hopOut}-sample blocks`,
        );
      const out = new Float32Array(o1 - o0);
      if (n > 0 && o1 > o0) {
        const [first, end] = blockRange(o0, o1);
        const plan = spectralPlan(design, L, M, blocks);
        resampleSpectral({ x: piece, start: pieceStart, length: n }, plan, first, end, totalBlocks, o0, out);
      }
      return out;
    },
  };
}

/**
 * Overlap-save over pairs of blocks. The filter is real, so it acts on a complex signal a + i·b as
 * on a and b apart: two input blocks go through one complex FFT (block A as the real part, B as the
 * imaginary part), the spectrum is weighted and folded onto the output bins, and one inverse FFT
 * (a forward FFT with real and imaginary parts swapped on the way in and out) gives both output
 * blocks. A block's first and last padOut outputs are discarded (wrap-around). Blocks [first, end)
 * (first even) of the signal's totalBlocks; `out` holds outputs outStart … .
 */
function resampleSpectral(
  piece: Piece,
  plan: SpectralPlan,
  first: number,
  end: number,
  totalBlocks: number,
  outStart: number,
  out: Float32Array,
): void {
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
  const outEnd = outStart + out.length;
  for (let b = first; b < end; b += 2) {
    loadBlock(piece, b * hopIn - padIn, inRe);
    if (b + 1 < totalBlocks) loadBlock(piece, (b + 1) * hopIn - padIn, inIm);
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
    out.set(yRe.subarray(padOut, padOut + Math.min(hopOut, outEnd - baseA)), baseA - outStart);
    const baseB = baseA + hopOut;
    if (baseB < outEnd)
      out.set(yIm.subarray(padOut, padOut + Math.min(hopOut, outEnd - baseB)), baseB - outStart);
  }
}

// ---------------------------------------------------------------------------------------------
// Direct (time-domain) paths

/** The coefficient table of the polyphase sum: `taps` (a multiple of 8) values per phase. */
interface PolyphasePlan {
  /** table[p · taps + j] = h(p/L + reach − 1 − j): tap j reads input base − reach + 1 + j. */
  table: Float64Array;
  /** L: output phases. */
  phases: number;
  /** M: input samples per L outputs. */
  step: number;
  taps: number;
  reach: number;
}

const POLYPHASE_LANES = 8;
const polyphaseTaps = (design: FilterDesign): number =>
  POLYPHASE_LANES * Math.ceil((2 * design.reach) / POLYPHASE_LANES);

/** Whether the ratio L/M (L = 0: not rational) has a coefficient table of a reasonable size. */
const polyphaseFits = (design: FilterDesign, L: number): boolean =>
  L > 0 && L <= MAX_PHASES && L * polyphaseTaps(design) <= MAX_TABLE;

const polyphaseCache = new Map<string, PolyphasePlan>();

/** The (cached) coefficient table for this design and ratio. */
function polyphasePlan(design: FilterDesign, L: number, M: number): PolyphasePlan {
  const key = `${design.cutoff}/${design.half}/${design.beta}/${L}/${M}`;
  const cached = polyphaseCache.get(key);
  if (cached !== undefined) return cached;
  const { reach } = design;
  const taps = polyphaseTaps(design);
  const table = new Float64Array(L * taps);
  for (let p = 0; p < L; p++) {
    for (let j = 0; j < 2 * reach; j++) table[p * taps + j] = tap(design, p / L + reach - 1 - j);
  }
  const plan = { table, phases: L, step: M, taps, reach };
  if (polyphaseCache.size >= PLAN_CACHE_SIZE)
    polyphaseCache.delete(polyphaseCache.keys().next().value as string);
  polyphaseCache.set(key, plan);
  return plan;
}

/** The functions of native/src/resample.cc on the addon. */
interface ResampleKernelBinding {
  /**
   * Fills `out` with outputs outputStart … of the polyphase sum over a signal of inputLength
   * samples, of which `x` holds those from inputStart on; returns the SIMD build that ran.
   */
  resamplePolyphase(
    plan: PolyphasePlan,
    x: Float32Array,
    inputStart: number,
    inputLength: number,
    out: Float32Array,
    outputStart: number,
    threads?: number,
    isa?: string,
  ): string;
  resampleKernelIsa: string;
}

let loadedKernel: OptionalKernel<ResampleKernelBinding> | undefined;

/**
 * The addon's resampling kernel, loaded on first use (main thread only, unless
 * STEMSCOPE_NATIVE_RESAMPLE is `0`; see loadOptionalKernel).
 */
function resampleKernel(): ResampleKernelBinding | null {
  loadedKernel ??= loadOptionalKernel("resampling kernel", "STEMSCOPE_NATIVE_RESAMPLE", [
    "resamplePolyphase",
  ]);
  return loadedKernel.binding;
}

/** Whether the polyphase method runs natively here (and which SIMD build), and if not, why. */
export function resampleKernelStatus(): { available: boolean; isa?: string; reason?: string } {
  const kernel = resampleKernel();
  return kernel === null
    ? { available: false, reason: loadedKernel!.reason }
    : { available: true, isa: kernel.resampleKernelIsa };
}

/**
 * Outputs outputStart … outputStart + out.length − 1 of the polyphase sum into `out`, from `x`
 * (samples inputStart … of a signal of inputLength samples; zero outside x and outside the signal).
 */
function runPolyphase(
  plan: PolyphasePlan,
  x: Float32Array,
  inputStart: number,
  inputLength: number,
  outputStart: number,
  out: Float32Array,
  kernel: ResampleKernelBinding | null,
  options: ResampleOptions = {},
): void {
  if (kernel !== null) {
    const { threads, kernelIsa } = options;
    kernel.resamplePolyphase(plan, x, inputStart, inputLength, out, outputStart, threads, kernelIsa);
  } else polyphaseTwin(plan, x, inputStart, inputLength, outputStart, out);
}

/**
 * The TypeScript twin of the native kernel, the same operations in the same order:
 * out[m] = Σ_j table[p][j] · x[base − reach + 1 + j] (base = floor(m·M/L), p = m·M mod L) as eight
 * partial sums s_l over j ≡ l (mod 8), then ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)). The
 * input is copied once into a zero-padded Float64Array so the inner loop has no edge tests.
 */
function polyphaseTwin(
  plan: PolyphasePlan,
  x: Float32Array,
  inputStart: number,
  inputLength: number,
  outputStart: number,
  out: Float32Array,
): void {
  const { table, phases: L, step: M, taps, reach } = plan;
  const count = out.length;
  if (count === 0) return;
  let base = Math.floor((outputStart * M) / L);
  let phase = outputStart * M - base * L;
  const first = base - reach + 1;
  const end = Math.floor(((outputStart + count - 1) * M) / L) - reach + 1 + taps;
  const padded = new Float64Array(end - first);
  const from = Math.max(first, inputStart, 0);
  const to = Math.min(end, inputStart + x.length, inputLength);
  for (let k = from; k < to; k++) padded[k - first] = x[k - inputStart]!;
  const stepBase = Math.floor(M / L);
  const stepPhase = M % L;
  for (let m = 0; m < count; m++) {
    const row = phase * taps;
    const k0 = base - reach + 1 - first;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let j = 0; j < taps; j += 8) {
      const r = row + j;
      const k = k0 + j;
      s0 += table[r]! * padded[k]!;
      s1 += table[r + 1]! * padded[k + 1]!;
      s2 += table[r + 2]! * padded[k + 2]!;
      s3 += table[r + 3]! * padded[k + 3]!;
      s4 += table[r + 4]! * padded[k + 4]!;
      s5 += table[r + 5]! * padded[k + 5]!;
      s6 += table[r + 6]! * padded[k + 6]!;
      s7 += table[r + 7]! * padded[k + 7]!;
    }
    out[m] = s0 + s4 + (s2 + s6) + (s1 + s5 + (s3 + s7));
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
