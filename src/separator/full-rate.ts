/**
 * Stems at the input's own sample rate, one channel at a time. The model hears a mono mixture at its
 * rate r (16 kHz); its masks m_k(f, t) — per linear-frequency bin and STFT frame of that clip, with
 * Σ_k m_k = 1 (masks.ts) — are carried over to a channel's own STFT at the input's rate R:
 * - frequency in Hz: the bin at F Hz takes the mask linearly interpolated between the model's bins
 *   around F · nFft / r; above the model's top band (fmax; 8 kHz by default) the model knows nothing,
 *   so the bins there take the top band's mask (as the model's own bins above fmax do);
 * - time in seconds: the frame centred at t s after the clip's start takes the mask linearly
 *   interpolated between the model's frames around t · r / hop (the first or last frame beyond them);
 * - the STFT at R keeps the model's window duration to the nearest power of two, nFft · 2^round(log2
 *   (R / r)), and its hop, round(hop · R / r) but at most half the window; centred, zero padded,
 *   periodic Hann, inverted by weighted overlap-add as istft does.
 * Interpolation is a convex combination, so the masks still sum to 1 and a channel's stems sum to the
 * channel up to round-off (the last stem is the channel minus the others). At R = r the mapping is
 * the identity, so the stems are those of separateClip.
 */
import { type FeatureConfig } from "../features/config.js";
import { RealFft } from "../features/fft.js";
import { getExtractor } from "../features/pipeline.js";
import { frameCount, hannWindow } from "../features/stft.js";

/** The STFT at the input's rate of one segment length, and how its bins map onto the model's. */
interface RatePlan {
  fft: RealFft;
  window: Float64Array;
  nFft: number;
  hop: number;
  frames: number;
  /** 1 / Σ_t window²(i − t·hop) over the padded segment (0 where no frame covers it). */
  inverseWss: Float64Array;
  /** Per bin at the input's rate: the model bin at or below its frequency … */
  lowerBin: Int32Array;
  /** … and the weight of the model bin above it. */
  upperWeight: Float64Array;
}

const ratePlans = new Map<string, RatePlan>();

/**
 * The STFT size and hop at `rate` Hz for a model of `config` (see the module comment).
 * @returns nFft (a power of two) and hop, in samples at `rate`
 */
export function stftAtRate(config: FeatureConfig, rate: number): { nFft: number; hop: number } {
  const extractor = getExtractor(config);
  const ratio = rate / config.sampleRate;
  const nFft = Math.max(16, config.nFft * 2 ** Math.round(Math.log2(ratio)));
  const hop = Math.min(nFft / 2, Math.max(1, Math.round(extractor.hop * ratio)));
  return { nFft, hop };
}

function ratePlan(config: FeatureConfig, rate: number, length: number): RatePlan {
  const key = `${config.sampleRate}/${config.nFft}/${getExtractor(config).hop}/${rate}/${length}`;
  const cached = ratePlans.get(key);
  if (cached !== undefined) return cached;
  const { nFft, hop } = stftAtRate(config, rate);
  const frames = frameCount(length, nFft, hop);
  const window = hannWindow(nFft);
  const wss = new Float64Array(nFft + hop * (frames - 1));
  for (let t = 0; t < frames; t++)
    for (let j = 0; j < nFft; j++) wss[t * hop + j] = wss[t * hop + j]! + window[j]! * window[j]!;
  const tiny = 1.1754943508222875e-38; // istft's threshold (float32's smallest normal)
  const inverseWss = wss.map((w) => (w > tiny ? 1 / w : 0));
  const fft = new RealFft(nFft);
  const modelBins = config.nFft / 2 + 1;
  const lowerBin = new Int32Array(fft.nBins);
  const upperWeight = new Float64Array(fft.nBins);
  for (let f = 0; f < fft.nBins; f++) {
    // the model bin of f·rate/nFft Hz, as a product of integers first so that equal rates map exactly
    const x = Math.min(modelBins - 1, (f * rate * config.nFft) / (nFft * config.sampleRate));
    const lower = Math.min(modelBins - 2, Math.floor(x));
    lowerBin[f] = lower;
    upperWeight[f] = x - lower;
  }
  const plan = { fft, window, nFft, hop, frames, inverseWss, lowerBin, upperWeight };
  if (ratePlans.size > 16) ratePlans.clear();
  ratePlans.set(key, plan);
  return plan;
}

/**
 * Separates one channel's segment at `rate` Hz with the masks of the model's clip (see the module
 * comment).
 * @param segment the channel's samples over (about) the clip's span, at `rate` Hz
 * @param offset where the segment starts after the clip's start, in samples at `rate` (may be
 *   fractional or negative)
 * @param masks K masks [1 + nFft/2, frames] of the clip at the model's rate, from linearMasks (they sum
 *   to 1 at every bin and frame)
 * @param rate the segment's sample rate, Hz
 * @returns K signals of segment.length samples; their sum is the segment
 */
export function separateAtRate(
  segment: Float32Array,
  offset: number,
  masks: readonly Float32Array[],
  config: FeatureConfig,
  rate: number,
): Float32Array[] {
  const { fft, window, nFft, hop, frames, inverseWss, lowerBin, upperWeight } = ratePlan(
    config,
    rate,
    segment.length,
  );
  const extractor = getExtractor(config);
  const modelFrames = extractor.frames;
  const modelHop = extractor.hop;
  const modelBins = config.nFft / 2 + 1;
  const k = masks.length;
  const nBins = fft.nBins;
  const pad = nFft / 2;
  const n = segment.length;
  const sums = Array.from({ length: k - 1 }, () => new Float64Array(nFft + hop * (frames - 1)));
  const frame = new Float64Array(nFft);
  const re = new Float64Array(nBins);
  const im = new Float64Array(nBins);
  const mre = new Float64Array(nBins);
  const mim = new Float64Array(nBins);
  const out = new Float64Array(nFft);
  // the masks frame by frame ([frames, bins]), so each frame reads two contiguous rows
  const byFrame = masks.slice(0, k - 1).map((mask) => {
    const rows = new Float64Array(modelFrames * modelBins);
    for (let f = 0; f < modelBins; f++)
      for (let t = 0; t < modelFrames; t++) rows[t * modelBins + f] = mask[f * modelFrames + t]!;
    return rows;
  });
  for (let t = 0; t < frames; t++) {
    const start = t * hop - pad;
    for (let j = 0; j < nFft; j++) {
      const i = start + j;
      frame[j] = i >= 0 && i < n ? segment[i]! * window[j]! : 0;
    }
    fft.forward(frame, re, im);
    // the model frame at this frame's centre (exact at equal rates: integers until the last division)
    const u = Math.min(
      modelFrames - 1,
      Math.max(0, ((t * hop + offset) * config.sampleRate) / rate / modelHop),
    );
    const t0 = Math.min(modelFrames - 2, Math.floor(u));
    const b = u - t0;
    const r0 = t0 * modelBins;
    const r1 = r0 + modelBins;
    for (let s = 0; s < k - 1; s++) {
      const rows = byFrame[s]!;
      for (let f = 0; f < nBins; f++) {
        const g = lowerBin[f]!;
        const a = upperWeight[f]!;
        const lower = (1 - b) * rows[r0 + g]! + b * rows[r1 + g]!;
        const upper = (1 - b) * rows[r0 + g + 1]! + b * rows[r1 + g + 1]!;
        const v = lower + a * (upper - lower);
        mre[f] = re[f]! * v;
        mim[f] = im[f]! * v;
      }
      fft.inverse(mre, mim, out);
      const y = sums[s]!;
      const off = t * hop;
      for (let j = 0; j < nFft; j++) y[off + j] = y[off + j]! + out[j]! * window[j]!;
    }
  }
  const stems = sums.map((y) => {
    const stem = new Float32Array(n);
    const avail = Math.min(n, y.length - pad);
    for (let i = 0; i < avail; i++) stem[i] = y[pad + i]! * inverseWss[pad + i]!;
    return stem;
  });
  const last = Float32Array.from(segment);
  for (const stem of stems) for (let i = 0; i < n; i++) last[i] = last[i]! - stem[i]!;
  stems.push(last);
  return stems;
}
