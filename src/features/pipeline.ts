/**
 * The feature pipelines. A {@link FeatureExtractor} precomputes everything that depends only on the
 * config (window, FFT tables, sparse mel filterbank, resize taps, scratch buffers) and then turns
 * clips into features without allocating.
 *
 * `seed` mode reproduces, per clip (librosa 0.10 + skimage 0.19):
 * ```python
 * y = librosa.util.fix_length(y, size=sr * seconds)
 * S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)  # fmax=sr/2
 * S = librosa.power_to_db(S, ref=np.max)            # amin=1e-10, top_db=80
 * S = (S - S.min()) / (S.max() - S.min())           # all zeros if S is flat
 * S = skimage.transform.resize(S, (128, 128))       # order 1, mode "reflect"
 * ```
 * Output layout everywhere: row-major [nMels, size], rows = mel bands low → high, columns = time.
 */
import { z } from "zod";
import { type FeatureConfig, FeatureConfigSchema } from "./config.js";
import { FeatureError } from "./errors.js";
import { RealFft } from "./fft.js";
import { type SparseMel, sparseMelFilterbank } from "./mel.js";
import { featureKernel, type FeaturePlanSpec, kernelFeaturesBatch } from "./native-kernel.js";
import { type LinearTaps, linearTaps } from "./resize.js";
import { frameCount, hannWindow } from "./stft.js";

/** librosa's default amin of power_to_db. */
export const AMIN = 1e-10;

/** Validates a partial config and fills in the schema's defaults. */
export function resolveFeatureConfig(config: Partial<FeatureConfig> = {}): FeatureConfig {
  const parsed = FeatureConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new FeatureError(`invalid feature config: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
  }
  return parsed.data;
}

/** Samples per clip: round(seconds · sampleRate). */
export function clipLength(config: FeatureConfig): number {
  return Math.round(config.seconds * config.sampleRate);
}

/**
 * The STFT hop of a mode: `seed` uses hopLength; `native` uses floor(L / (size − 1)), the largest hop
 * giving exactly `size` centred frames for L samples (251 for 2 s at 16 kHz and size 128).
 */
export function effectiveHop(config: FeatureConfig): number {
  if (config.mode === "seed") return config.hopLength;
  const length = clipLength(config);
  const hop = Math.floor(length / (config.size - 1));
  if (hop < 1 || frameCount(length, config.nFft, hop) !== config.size) {
    throw new FeatureError(
      `native mode: no hop gives exactly ${config.size} frames for a ${length}-sample clip`,
    );
  }
  if (hop > config.nFft)
    throw new FeatureError(`native mode: hop ${hop} exceeds nFft ${config.nFft}; raise nFft or size`);
  return hop;
}

/** Reference of native-mode values: v = clip((10·log10(max(amin, P) / max(amin, refPower)) + topDb) / topDb, 0, 1). */
export interface NativeScale {
  /** Power (same units as the mel power spectrogram) that maps to 1; the mixture's peak mel power. */
  refPower: number;
  /** dB range mapped onto [0, 1]. */
  topDb: number;
  amin: number;
}

/** Precomputed plan for one config; reuse it for many clips. Not thread-safe (owns scratch buffers). */
export class FeatureExtractor {
  readonly config: FeatureConfig;
  /** Samples per clip. */
  readonly length: number;
  readonly hop: number;
  /** STFT frames per clip before resizing. */
  readonly frames: number;
  /** Values per output clip: nMels · size. */
  readonly outputSize: number;
  private readonly fft: RealFft;
  private readonly window: Float64Array;
  private readonly mel: SparseMel;
  private readonly taps: LinearTaps | undefined;
  private readonly power: Float64Array;
  /** [nMels, frames] mel power, then scaled values in place. */
  private readonly melBuf: Float64Array;

  constructor(config: Partial<FeatureConfig> = {}) {
    this.config = resolveFeatureConfig(config);
    const c = this.config;
    this.length = clipLength(c);
    this.hop = effectiveHop(c);
    this.frames = frameCount(this.length, c.nFft, this.hop);
    if (c.mode === "seed" && this.frames > c.size) {
      throw new FeatureError(
        `seed mode: ${this.frames} STFT frames would be shrunk to ${c.size} columns; skimage anti-aliases when shrinking and that is not reproduced — raise size or hopLength`,
      );
    }
    this.outputSize = c.nMels * c.size;
    this.fft = new RealFft(c.nFft);
    this.window = hannWindow(c.nFft);
    this.mel = sparseMelFilterbank({
      sampleRate: c.sampleRate,
      nFft: c.nFft,
      nMels: c.nMels,
      fmin: c.fmin,
      fmax: c.fmax,
    });
    this.taps = c.mode === "seed" ? linearTaps(this.frames, c.size) : undefined;
    this.power = new Float64Array(this.fft.nBins);
    this.melBuf = new Float64Array(c.nMels * this.frames);
  }

  /**
   * Mel power spectrogram of one clip (librosa.feature.melspectrogram, power 2, centred, zero padding),
   * after fix_length to {@link length} samples, written into the internal buffer; returns its maximum.
   */
  private melPower(samples: Float32Array): number {
    const { nFft, nMels } = this.config;
    const n = Math.min(samples.length, this.length); // fix_length: samples past L are dropped, missing ones are 0
    const pad = nFft / 2;
    const frames = this.frames;
    const { window, power, melBuf } = this;
    const { start, length, offset, weights } = this.mel;
    let max = 0;
    for (let t = 0; t < frames; t++) {
      this.fft.powerSpectrum(samples, n, t * this.hop - pad, window, power);
      for (let m = 0; m < nMels; m++) {
        const k0 = start[m] as number;
        const len = length[m] as number;
        const o = offset[m] as number;
        let acc = 0;
        for (let i = 0; i < len; i++) acc += (weights[o + i] as number) * (power[k0 + i] as number);
        melBuf[m * frames + t] = acc;
        if (acc > max) max = acc;
      }
    }
    return max;
  }

  /**
   * Mel power spectrogram [nMels, frames] of one clip (after fix_length), as a new Float32Array.
   * Equals librosa.feature.melspectrogram(y, sr, n_fft, hop_length=hop, n_mels, fmin, fmax).
   */
  melSpectrogram(samples: Float32Array): Float32Array {
    this.melPower(samples);
    return Float32Array.from(this.melBuf);
  }

  /**
   * Features of one clip, written to `out[outOffset .. outOffset + nMels·size)` (a new array if `out`
   * is omitted). Mode `native` scales by `refPower` when given (e.g. a mixture's), else by the clip's
   * own peak mel power.
   * @returns the array written to
   */
  compute(samples: Float32Array, out?: Float32Array, outOffset = 0, refPower?: number): Float32Array {
    const target = out ?? new Float32Array(this.outputSize);
    if (target.length < outOffset + this.outputSize) {
      throw new FeatureError(
        `feature output buffer holds ${target.length - outOffset} values, need ${this.outputSize}`,
      );
    }
    const max = this.melPower(samples);
    if (this.config.mode === "seed") this.finishSeed(max, target, outOffset);
    else this.finishNative(refPower ?? max, target, outOffset);
    return target;
  }

  /**
   * This config's tables for the native batch kernel (src/features/native-kernel.ts), which computes
   * the same features in C++: the window, sparse mel filterbank and (seed) resize taps used here.
   * The arrays are the extractor's own; do not modify them.
   */
  kernelSpec(): FeaturePlanSpec {
    const c = this.config;
    const taps = this.taps;
    return {
      mode: c.mode,
      nFft: c.nFft,
      hop: this.hop,
      frames: this.frames,
      length: this.length,
      nMels: c.nMels,
      size: c.size,
      topDb: c.topDb,
      amin: AMIN,
      window: this.window,
      melStart: this.mel.start,
      melLength: this.mel.length,
      melOffset: this.mel.offset,
      melWeights: this.mel.weights,
      ...(taps === undefined
        ? {}
        : { resizeI0: taps.i0, resizeI1: taps.i1, resizeW0: taps.w0, resizeW1: taps.w1 }),
    };
  }

  /** Peak mel power of a clip (the `refPower` native mode scales by). */
  peakMelPower(samples: Float32Array): number {
    return this.melPower(samples);
  }

  private finishSeed(maxPower: number, out: Float32Array, outOffset: number): void {
    const { nMels, size, topDb } = this.config;
    const frames = this.frames;
    const buf = this.melBuf;
    // power_to_db(ref=np.max): v = 10·log10(max(amin, p)) − 10·log10(max(amin, max)); its max is 0,
    // so the top_db floor is −topDb; powers below max·10^(−topDb/10) land on the floor (no log needed).
    const refDb = 10 * Math.log10(Math.max(AMIN, maxPower));
    const linearFloor = Math.max(AMIN, maxPower) * Math.pow(10, -topDb / 10);
    let min = 0;
    const total = nMels * frames;
    for (let i = 0; i < total; i++) {
      const raw = buf[i] as number;
      const p = raw > AMIN ? raw : AMIN;
      let v = -topDb;
      if (p > linearFloor) {
        v = 10 * Math.log10(p) - refDb;
        if (v < -topDb) v = -topDb;
      }
      buf[i] = v;
      if (v < min) min = v;
    }
    // min-max to [0, 1]: (v − min) / (0 − min); all zeros when flat.
    const taps = this.taps as LinearTaps;
    if (min === 0) {
      out.fill(0, outOffset, outOffset + nMels * size);
      return;
    }
    const inv = -1 / min;
    // Resize [nMels, frames] → [nMels, size]: rows map 1:1 (half-pixel centres, same count), columns
    // interpolate linearly. Min-max scaling is affine and the two weights sum to 1, so it is applied
    // after interpolating: (w0·a + w1·b − min) / (0 − min).
    const { i0, i1, w0, w1 } = taps;
    for (let m = 0; m < nMels; m++) {
      const row = m * frames;
      const o = outOffset + m * size;
      for (let j = 0; j < size; j++) {
        const v =
          (w0[j] as number) * (buf[row + (i0[j] as number)] as number) +
          (w1[j] as number) * (buf[row + (i1[j] as number)] as number);
        const r = (v - min) * inv;
        out[o + j] = r < 0 ? 0 : r > 1 ? 1 : r; // skimage clips to the input range (clip=True)
      }
    }
  }

  private finishNative(refPower: number, out: Float32Array, outOffset: number): void {
    const { nMels, size, topDb } = this.config;
    const buf = this.melBuf;
    const refDb = 10 * Math.log10(Math.max(AMIN, refPower));
    const total = nMels * size; // frames === size in native mode
    for (let i = 0; i < total; i++) {
      const p = buf[i] as number;
      let v = (10 * Math.log10(p > AMIN ? p : AMIN) - refDb + topDb) / topDb;
      if (v < 0) v = 0;
      else if (v > 1) v = 1;
      out[outOffset + i] = v;
    }
  }
}

const extractorCache = new Map<string, FeatureExtractor>();

/** A cached extractor for `config` (one per distinct config and thread). */
export function getExtractor(config: Partial<FeatureConfig> = {}): FeatureExtractor {
  const resolved = resolveFeatureConfig(config);
  const key = JSON.stringify(resolved);
  let extractor = extractorCache.get(key);
  if (extractor === undefined) {
    extractor = new FeatureExtractor(resolved);
    if (extractorCache.size > 16) extractorCache.clear();
    extractorCache.set(key, extractor);
  }
  return extractor;
}

/**
 * Features of one clip in the configured mode.
 * @param samples mono audio at config.sampleRate; zero-padded / trimmed to seconds · sampleRate
 * @returns Float32Array [nMels, size] row-major (mel bands low → high, columns = time), values in [0, 1]
 */
export function computeFeatures(samples: Float32Array, config: Partial<FeatureConfig> = {}): Float32Array {
  return getExtractor(config).compute(samples);
}

/**
 * The seed paper's features of one 2-s 16 kHz clip (see the module comment for the exact recipe).
 * @returns Float32Array [128, 128] row-major, values in [0, 1]
 */
export function seedFeatures(samples: Float32Array): Float32Array {
  return getExtractor({ mode: "seed" }).compute(samples);
}

/** Options of {@link computeFeaturesBatch}. */
export interface FeatureBatchOptions {
  /**
   * Use the native kernel when the addon is available (default true); false forces the TypeScript
   * path. Both give the same features to ~1e-7.
   */
  native?: boolean;
  /** Threads of the native kernel (default 1: this thread only). The TypeScript path uses one. */
  threads?: number;
}

/**
 * Features of many clips, blocking this thread: by the native kernel (src/features/native-kernel.ts,
 * `options.threads` threads) when the addon is loaded, else in TypeScript on this thread. For work
 * off the JS thread see `FeatureWorkerPool`.
 * In `native` mode each clip is scaled by its own peak, as {@link FeatureExtractor.compute}.
 * @returns Float32Array [batch, nMels, size], clip b at offset b · nMels · size
 */
export function computeFeaturesBatch(
  clips: Float32Array[],
  config: Partial<FeatureConfig> = {},
  options: FeatureBatchOptions = {},
): Float32Array {
  const extractor = getExtractor(config);
  if (options.native !== false) {
    const fast = kernelFeaturesBatch(extractor, clips, { threads: options.threads ?? 1 });
    if (fast !== null) return fast;
  }
  const out = new Float32Array(clips.length * extractor.outputSize);
  for (let b = 0; b < clips.length; b++)
    extractor.compute(clips[b] as Float32Array, out, b * extractor.outputSize);
  return out;
}

/** Result of {@link nativeFeatures}. */
export interface NativeFeatures {
  /** [nMels, size] in [0, 1]; the mixture's peak maps to 1. */
  mixture: Float32Array;
  /** One [nMels, size] array per source, on the mixture's scale (so quieter sources have smaller values). */
  sources: Float32Array[];
  /** What maps values back to mel power, see {@link nativeToMelPower}. */
  scale: NativeScale;
}

/**
 * Native-mode features of a mixture and its sources, all scaled relative to the mixture's peak mel
 * power: v = clip((10·log10(max(amin, P) / max(amin, refPower)) + topDb) / topDb, 0, 1) with
 * refPower = max(mixture mel power). Sources louder than the mixture in a cell (phase cancellation)
 * are clipped at 1.
 *
 * @param mixture mono audio at config.sampleRate (fix_length to seconds · sampleRate)
 * @param sources mono audio of each source, same rate
 * @param config any config; mode is forced to `native`
 */
export function nativeFeatures(
  mixture: Float32Array,
  sources: Float32Array[],
  config: Partial<FeatureConfig> = {},
): NativeFeatures {
  const extractor = getExtractor({ ...config, mode: "native" });
  const refPower = extractor.peakMelPower(mixture);
  const mix = extractor.compute(mixture, undefined, 0, refPower);
  const src = sources.map((s) => extractor.compute(s, undefined, 0, refPower));
  return { mixture: mix, sources: src, scale: { refPower, topDb: extractor.config.topDb, amin: AMIN } };
}

/**
 * Inverse of the native value map: P = refPower · 10^((v − 1) · topDb / 10) for v > 0, and 0 for
 * v ≤ 0 (the floor means "at least topDb below the reference", treated as silence).
 * @param values [nMels, frames] native-mode values
 * @returns mel power, same shape
 */
export function nativeToMelPower(values: Float32Array, scale: NativeScale): Float32Array {
  const out = new Float32Array(values.length);
  const ref = Math.max(scale.amin, scale.refPower);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    out[i] = v > 0 ? ref * Math.pow(10, ((v - 1) * scale.topDb) / 10) : 0;
  }
  return out;
}

/** Features of a batch of mixtures and their sources, from {@link sampleFeaturesBatch}. */
export interface SampleFeatures {
  /** [batch, nMels, size] (one plane per mixture), row-major. */
  mixture: Float32Array;
  /** [batch, K, nMels, size], row-major. */
  sources: Float32Array;
}

/**
 * Features of mixtures and their K sources, as training targets and model inputs are made — the one
 * place that decides how sources are scaled: `seed` mode scales every spectrogram on its own
 * (min-max per image, as the seed); `native` mode puts the sources on their mixture's scale (its
 * peak mel power maps to 1, see {@link nativeFeatures}). By the native kernel when the addon is
 * loaded (`options.threads` threads), else in TypeScript on this thread; the two agree to ~1e-7.
 * @param mixtures B mono clips at config.sampleRate (fix_length to seconds · sampleRate)
 * @param sources B lists of K clips each, same rate
 */
export function sampleFeaturesBatch(
  mixtures: readonly Float32Array[],
  sources: readonly (readonly Float32Array[])[],
  config: Partial<FeatureConfig> = {},
  options: FeatureBatchOptions = {},
): SampleFeatures {
  const extractor = getExtractor(config);
  const k = sources[0]?.length ?? 0;
  if (sources.length !== mixtures.length || sources.some((s) => s.length !== k)) {
    throw new FeatureError(
      `sampleFeaturesBatch: expected ${mixtures.length} lists of ${k} sources, got ${sources.map((s) => s.length).join(", ")}`,
    );
  }
  const native = extractor.config.mode === "native";
  const flat = sources.flat();
  if (options.native !== false && featureKernel() !== null) {
    const threads = options.threads ?? 1;
    const peaks = native ? new Float64Array(mixtures.length) : undefined;
    const mixture = kernelFeaturesBatch(extractor, mixtures as Float32Array[], {
      threads,
      ...(peaks && { peaks }),
    });
    const refPower = peaks && Float64Array.from(flat, (_, j) => peaks[Math.floor(j / k)]!);
    const src = kernelFeaturesBatch(extractor, flat, { threads, ...(refPower && { refPower }) });
    if (mixture !== null && src !== null) return { mixture, sources: src };
  }
  const cell = extractor.outputSize;
  const mixture = new Float32Array(mixtures.length * cell);
  const src = new Float32Array(flat.length * cell);
  mixtures.forEach((clip, b) => {
    const refPower = native ? extractor.peakMelPower(clip) : undefined;
    extractor.compute(clip, mixture, b * cell, refPower);
    for (let j = 0; j < k; j++) extractor.compute(sources[b]![j]!, src, (b * k + j) * cell, refPower);
  });
  return { mixture, sources: src };
}
