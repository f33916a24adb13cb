/**
 * From separated spectrograms to audio: soft masks on the mixture's STFT, inverted with the
 * mixture's phase — the inverse of the feature domain, used by separate (per window) and eval.
 *
 * Masks (Wiener-like, on power): for each mel band m and STFT frame t, source k's share is
 * r_k(m, t) = P_k(m, t) / Σ_j P_j(m, t), where P_k is source k's mel power estimated from the
 * model's output; linear-frequency bin f gets the filterbank-weighted mean of the shares of the
 * bands that cover it, m_k(f, t) = Σ_m w(m, f) r_k(m, t) / Σ_m w(m, f) (bins no band covers take the
 * nearest covered bin's mask). So Σ_k m_k = 1 everywhere, and the stems of a window sum to the
 * window up to iSTFT round-off.
 *
 * Mel power from model values:
 * - `native` mode: P = 10^((v − 1)·topDb / 10) relative to the mixture's peak, and 0 for v ≤ 0 (the
 *   floor; see nativeToMelPower). The reference power cancels in the ratio.
 * - `seed` mode (min-max normalised dB, resized to `size` columns) is not invertible; we use the
 *   approximation P = 10^((v − 1)·R / 10) with R the mixture window's own dB range (−min of its
 *   power_to_db image, ≤ topDb), i.e. the shares are a softmax of the sources' un-normalised dB
 *   values, and the columns are resized back to the STFT frames by linear interpolation.
 */
import { type FeatureConfig } from "../features/config.js";
import { AMIN, getExtractor } from "../features/pipeline.js";
import { resizeBilinear } from "../features/resize.js";
import { sparseMelFilterbank } from "../features/mel.js";
import { RealFft } from "../features/fft.js";
import { hannWindow } from "../features/stft.js";
import { featureKernel } from "../features/native-kernel.js";

/** For every linear bin: the mel bands covering it and their normalised weights. */
interface BinMap {
  nBins: number;
  /** CSR over bins: bands bandIdx[binStart[f] .. binStart[f+1]) with weights weight[...] (sum 1). */
  binStart: Int32Array;
  bandIdx: Int32Array;
  weight: Float64Array;
  /** For uncovered bins, the covered bin whose mask they copy (else the bin itself). */
  source: Int32Array;
}

const binMaps = new Map<string, BinMap>();

function binMap(c: FeatureConfig): BinMap {
  const key = `${c.sampleRate}/${c.nFft}/${c.nMels}/${c.fmin}/${c.fmax}`;
  const cached = binMaps.get(key);
  if (cached !== undefined) return cached;
  const mel = sparseMelFilterbank({
    sampleRate: c.sampleRate,
    nFft: c.nFft,
    nMels: c.nMels,
    fmin: c.fmin,
    fmax: c.fmax,
  });
  const nBins = mel.nBins;
  const lists: { band: number; w: number }[][] = Array.from({ length: nBins }, () => []);
  for (let m = 0; m < mel.nMels; m++) {
    const s = mel.start[m] as number;
    const len = mel.length[m] as number;
    const o = mel.offset[m] as number;
    for (let i = 0; i < len; i++) {
      const w = mel.weights[o + i] as number;
      if (w > 0) (lists[s + i] as { band: number; w: number }[]).push({ band: m, w });
    }
  }
  const binStart = new Int32Array(nBins + 1);
  const bandIdx: number[] = [];
  const weight: number[] = [];
  for (let f = 0; f < nBins; f++) {
    const list = lists[f] as { band: number; w: number }[];
    const total = list.reduce((a, b) => a + b.w, 0);
    for (const { band, w } of list) {
      bandIdx.push(band);
      weight.push(w / total);
    }
    binStart[f + 1] = bandIdx.length;
  }
  const source = new Int32Array(nBins);
  for (let f = 0; f < nBins; f++) {
    source[f] = f;
    if ((binStart[f + 1] as number) > (binStart[f] as number)) continue;
    let best = -1;
    for (let d = 1; d < nBins && best < 0; d++) {
      for (const g of [f - d, f + d]) {
        if (g >= 0 && g < nBins && (binStart[g + 1] as number) > (binStart[g] as number)) {
          best = g;
          break;
        }
      }
    }
    if (best >= 0) source[f] = best;
  }
  const map = {
    nBins,
    binStart,
    bandIdx: Int32Array.from(bandIdx),
    weight: Float64Array.from(weight),
    source,
  };
  binMaps.set(key, map);
  return map;
}

/**
 * Source k's share of each mel band and frame, r_k = P_k / Σ_j P_j (1/K where all are 0).
 * @param separated K model outputs, each [nMels, size] row-major
 * @param mixture the window's audio (used in `seed` mode for its dB range)
 * @returns K arrays [nMels, frames] (frames = the STFT frames of one clip)
 */
export function melShares(
  separated: readonly Float32Array[],
  mixture: Float32Array,
  config: FeatureConfig,
): Float64Array[] {
  const extractor = getExtractor(config);
  const { nMels, size, topDb } = extractor.config;
  const frames = extractor.frames;
  let powers: Float32Array[];
  if (config.mode === "native") {
    // P = 10^((v − 1)·topDb / 10) for v > 0, else 0 (nativeToMelPower); the reference cancels in the
    // shares, so exp(a·v) with a = topDb·ln 10 / 10 gives the same ratios without pow.
    const a = (topDb * Math.LN10) / 10;
    powers = separated.map((v) => v.map((x) => (x > 0 ? Math.exp(a * x) : 0)));
  } else {
    const mel = extractor.melSpectrogram(mixture);
    let max = 0;
    for (const p of mel) if (p > max) max = p;
    const refDb = 10 * Math.log10(Math.max(AMIN, max));
    let min = 0;
    for (const p of mel) min = Math.min(min, Math.max(-topDb, 10 * Math.log10(Math.max(AMIN, p)) - refDb));
    const range = min < 0 ? -min : topDb;
    powers = separated.map((v) => {
      const back = frames === size ? v : resizeBilinear(v, nMels, size, nMels, frames);
      const out = new Float32Array(back.length);
      for (let i = 0; i < back.length; i++) out[i] = Math.pow(10, (((back[i] as number) - 1) * range) / 10);
      return out;
    });
  }
  const k = separated.length;
  const cells = nMels * frames;
  const shares = powers.map(() => new Float64Array(cells));
  for (let i = 0; i < cells; i++) {
    let sum = 0;
    for (const p of powers) sum += Math.max(0, p[i] as number);
    for (let s = 0; s < k; s++) {
      (shares[s] as Float64Array)[i] =
        sum > 0 ? Math.max(0, (powers[s] as Float32Array)[i] as number) / sum : 1 / k;
    }
  }
  return shares;
}

/**
 * Masks on the linear-frequency STFT of a clip (see the module comment).
 * @param shares K arrays [nMels, frames] from {@link melShares}
 * @returns K arrays [1 + nFft/2, frames] in [0, 1] that sum to 1 at every bin and frame
 */
export function linearMasks(shares: readonly Float64Array[], config: FeatureConfig): Float32Array[] {
  const extractor = getExtractor(config);
  const frames = extractor.frames;
  const map = binMap(extractor.config);
  const { nBins, binStart, bandIdx, weight, source } = map;
  return shares.map((r) => {
    const mask = new Float32Array(nBins * frames);
    for (let f = 0; f < nBins; f++) {
      const g = source[f] as number;
      const a = binStart[g] as number;
      const b = binStart[g + 1] as number;
      for (let t = 0; t < frames; t++) {
        let v = 0;
        if (b > a) {
          for (let i = a; i < b; i++)
            v += (weight[i] as number) * (r[(bandIdx[i] as number) * frames + t] as number);
        } else {
          v = 1 / shares.length;
        }
        mask[f * frames + t] = v;
      }
    }
    return mask;
  });
}

/** The STFT tables of a feature config, shared by every clip separated with it. */
interface ClipPlan {
  fft: RealFft;
  window: Float64Array;
  /** 1 / Σ_t window²(i − t·hop) over the padded clip (0 where no frame covers it). */
  inverseWss: Float64Array;
  nFft: number;
  hop: number;
  frames: number;
  length: number;
}

const clipPlans = new Map<string, ClipPlan>();

function clipPlan(config: FeatureConfig): ClipPlan {
  const extractor = getExtractor(config);
  const { nFft } = extractor.config;
  const key = `${nFft}/${extractor.hop}/${extractor.length}`;
  const cached = clipPlans.get(key);
  if (cached !== undefined) return cached;
  const hop = extractor.hop;
  const frames = extractor.frames;
  const window = hannWindow(nFft);
  const total = nFft + hop * (frames - 1);
  const wss = new Float64Array(total);
  for (let t = 0; t < frames; t++)
    for (let j = 0; j < nFft; j++) wss[t * hop + j] = wss[t * hop + j]! + window[j]! * window[j]!;
  const tiny = 1.1754943508222875e-38; // istft's threshold (float32's smallest normal)
  const inverseWss = wss.map((w) => (w > tiny ? 1 / w : 0));
  const plan = { fft: new RealFft(nFft), window, inverseWss, nFft, hop, frames, length: extractor.length };
  clipPlans.set(key, plan);
  return plan;
}

/**
 * Separates one clip: masks from the model's separated spectrograms applied to the clip's STFT
 * (the features' nFft and hop, centred, zero padding), inverted with the clip's phase — the same
 * as `istft(linearMasks(melShares(…))_k ⊙ stft(clip))` for each k, computed frame by frame. Since the
 * masks sum to 1, the last stem is the clip minus the others (one inverse transform fewer).
 * @param clip the window's audio, exactly seconds · sampleRate samples
 * @param separated K model outputs [nMels, size]
 * @returns K signals of clip.length samples; their sum is the clip
 */
export function separateClip(
  clip: Float32Array,
  separated: readonly Float32Array[],
  config: FeatureConfig,
): Float32Array[] {
  const plan = clipPlan(config);
  const { fft, window, inverseWss, nFft, hop, frames } = plan;
  const k = separated.length;
  const shares = melShares(separated, clip, config);
  const { nBins, binStart, bandIdx, weight, source } = binMap(getExtractor(config).config);
  const nMels = shares[0]!.length / frames;
  const pad = nFft / 2;
  const n = clip.length;
  const sums = Array.from({ length: k - 1 }, () => new Float64Array(nFft + hop * (frames - 1)));
  const frame = new Float64Array(nFft);
  const re = new Float64Array(nBins);
  const im = new Float64Array(nBins);
  const mre = new Float64Array(nBins);
  const mim = new Float64Array(nBins);
  const out = new Float64Array(nFft);
  const column = new Float64Array(nMels);
  for (let t = 0; t < frames; t++) {
    const start = t * hop - pad;
    for (let j = 0; j < nFft; j++) {
      const i = start + j;
      frame[j] = i >= 0 && i < n ? clip[i]! * window[j]! : 0;
    }
    fft.forward(frame, re, im);
    for (let s = 0; s < k - 1; s++) {
      const r = shares[s]!;
      for (let m = 0; m < nMels; m++) column[m] = r[m * frames + t]!;
      for (let f = 0; f < nBins; f++) {
        const g = source[f]!;
        const a = binStart[g]!;
        const b = binStart[g + 1]!;
        let v = 1 / k;
        if (b > a) {
          v = 0;
          for (let i = a; i < b; i++) v += weight[i]! * column[bandIdx[i]!]!;
        }
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
  const last = Float32Array.from(clip);
  for (const stem of stems) for (let i = 0; i < n; i++) last[i] = last[i]! - stem[i]!;
  stems.push(last);
  return stems;
}

/** What the addon's stemsBatch (native/src/stems.cc) takes: one config's tables (clipPlan, binMap). */
interface StemsKernelSpec {
  nFft: number;
  hop: number;
  frames: number;
  length: number;
  nMels: number;
  sources: number;
  /** a in P = exp(a·v): topDb·ln 10 / 10. */
  powerScale: number;
  window: Float64Array;
  inverseWss: Float64Array;
  binStart: Int32Array;
  bandIdx: Int32Array;
  weight: Float64Array;
  source: Int32Array;
}

/** Which build of the kernel runs: by the CPU (`auto`), the 2-lane baseline, or the AVX2 + FMA one. */
export type StemsKernelIsa = "auto" | "baseline" | "avx2";

type StemsBatch = (
  spec: StemsKernelSpec,
  clips: Float32Array[],
  planes: Float32Array,
  output: Float32Array,
  threads: number,
  isa?: StemsKernelIsa,
) => "baseline" | "avx2";

/** The addon's stems kernel, or null when the addon (or this build of it) is not there. */
function stemsKernel(): StemsBatch | null {
  const addon = featureKernel() as { stemsBatch?: StemsBatch } | null;
  return typeof addon?.stemsBatch === "function" ? addon.stemsBatch : null;
}

/**
 * {@link separateClip} for a batch of clips at once: by the native kernel in `native` mode (split
 * across `threads`; the same stems to float rounding), else clip by clip in TypeScript.
 * @param clips B clips of exactly clipLength samples
 * @param planes [B, K, nMels, size] the model's separated planes
 * @param sources K
 * @param threads threads of the native kernel
 * @param isa the kernel's build (tests run both; `auto`: the CPU's best)
 * @returns [B, K, clipLength] stems; clip b's stems sum to it
 */
export function separateBatch(
  clips: readonly Float32Array[],
  planes: Float32Array,
  sources: number,
  config: FeatureConfig,
  threads = 1,
  isa: StemsKernelIsa = "auto",
): Float32Array {
  const plan = clipPlan(config);
  const n = plan.length;
  const out = new Float32Array(clips.length * sources * n);
  const kernel = config.mode === "native" ? stemsKernel() : null;
  if (kernel !== null && clips.every((c) => c.length === n)) {
    const map = binMap(getExtractor(config).config);
    const spec: StemsKernelSpec = {
      nFft: plan.nFft,
      hop: plan.hop,
      frames: plan.frames,
      length: n,
      nMels: config.nMels,
      sources,
      powerScale: (config.topDb * Math.LN10) / 10,
      window: plan.window,
      inverseWss: plan.inverseWss,
      binStart: map.binStart,
      bandIdx: map.bandIdx,
      weight: map.weight,
      source: map.source,
    };
    kernel(spec, [...clips], planes, out, threads, isa);
    return out;
  }
  const cell = planes.length / (clips.length * sources);
  clips.forEach((clip, b) => {
    const separated = Array.from({ length: sources }, (_, s) =>
      planes.subarray((b * sources + s) * cell, (b * sources + s + 1) * cell),
    );
    separateClip(clip, separated, config).forEach((stem, s) => out.set(stem, (b * sources + s) * n));
  });
  return out;
}
