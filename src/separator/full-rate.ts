/**
 * Stems at the input's own sample rate and channels. The model hears a mono mixture at its rate r
 * (16 kHz) in windows (2 s every 1 s by default); each window's masks m_k(f, t) — per
 * linear-frequency bin and STFT frame of that window's clip, Σ_k m_k = 1 (masks.ts) — are carried
 * over to one STFT of each channel at the input's rate R, frame by frame:
 * - time in seconds: a frame centred at τ takes, from each window covering τ, that window's mask
 *   linearly interpolated between its frames around (τ − start) · r / hop (its first or last frame
 *   beyond them), and the windows' masks are cross-faded with the Hann weights of the model-rate
 *   overlap-add (crossfadeWeights), normalised to sum to 1;
 * - frequency in Hz: the bin at F Hz takes the mask linearly interpolated between the model's bins
 *   around F · nFft / r; above the model's top band (fmax; 8 kHz by default) the model knows
 *   nothing, so those bins take the top band's mask, as the model's own bins above fmax do;
 * - the STFT at R keeps the model's window duration to the nearest power of two, nFft ·
 *   2^round(log2(R / r)), and its hop, round(hop · R / r) but at most half the window; centred, zero
 *   padded, periodic Hann, inverted by weighted overlap-add as istft does.
 * Interpolating and cross-fading are convex combinations, so the masks still sum to 1 and each
 * channel's stems sum to the channel up to round-off (the last stem is the channel minus the
 * others). One pass over the audio transforms each sample's frames once (not once per window), holds
 * only the masks of the windows around the current frame, and writes the stems in place (float32):
 * the input and the K stems are the only arrays as long as the input. For one window at R = r the
 * mapping is the identity: the stems are separateClip's, to float32 round-off.
 */
import { type FeatureConfig } from "../features/config.js";
import { RealFft } from "../features/fft.js";
import { getExtractor } from "../features/pipeline.js";
import { frameCount, hannWindow } from "../features/stft.js";

/**
 * The STFT size and hop at `rate` Hz for a model of `config` (see the module comment).
 * @returns nFft (a power of two) and hop, in samples at `rate`
 */
export function stftAtRate(config: FeatureConfig, rate: number): { nFft: number; hop: number } {
  const ratio = rate / config.sampleRate;
  const nFft = Math.max(16, config.nFft * 2 ** Math.round(Math.log2(ratio)));
  const hop = Math.min(nFft / 2, Math.max(1, Math.round(getExtractor(config).hop * ratio)));
  return { nFft, hop };
}

/** istft's threshold on the window sum-square (float32's smallest normal). */
const TINY = 1.1754943508222875e-38;

/**
 * One pass that separates every channel of the input at its own rate with the masks of the model's
 * windows (see the module comment). Run {@link advance} until all {@link frames} are done (yielding
 * between calls as you like), then {@link finish}.
 */
export class FullRateSeparation {
  /** STFT frames of each channel. */
  readonly frames: number;
  private readonly fft: RealFft;
  private readonly window: Float64Array;
  private readonly nFft: number;
  private readonly hop: number;
  /** Per bin at the input's rate: the model bin at or below its frequency … */
  private readonly lowerBin: Int32Array;
  /** … and the weight of the model bin above it. */
  private readonly upperWeight: Float64Array;
  private readonly modelBins: number;
  private readonly modelFrames: number;
  private readonly modelHop: number;
  private readonly clipLength: number;
  /** The masks of the windows around the current frame. */
  private readonly held = new Map<number, readonly Float32Array[]>();
  /** Scratch: one mask on the model's bins. */
  private readonly column: Float64Array;
  /** The first window that may still cover a frame. */
  private firstWindow = 0;
  private next = 0;
  /** Per stem, one array per channel; the first K − 1 hold Σ frames·window until {@link finish}. */
  private readonly out: Float32Array[][];

  /**
   * @param channels the input, one array per channel (equal lengths), at `rate` Hz
   * @param windowStarts the model's windows, first samples at the model's rate, ascending, covering
   *   the input (each clipLength samples long)
   * @param masksOf K masks [1 + nFft/2, frames] of window w's clip at the model's rate (linearMasks),
   *   in stem order; asked once per window, in order
   * @param stems K
   */
  constructor(
    private readonly channels: readonly Float32Array[],
    private readonly rate: number,
    private readonly config: FeatureConfig,
    private readonly windowStarts: readonly number[],
    private readonly masksOf: (window: number) => readonly Float32Array[],
    stems: number,
  ) {
    const extractor = getExtractor(config);
    this.modelFrames = extractor.frames;
    this.modelHop = extractor.hop;
    this.clipLength = extractor.length;
    this.modelBins = config.nFft / 2 + 1;
    this.column = new Float64Array(this.modelBins);
    const { nFft, hop } = stftAtRate(config, rate);
    this.nFft = nFft;
    this.hop = hop;
    const length = channels[0]?.length ?? 0;
    this.frames = frameCount(length, nFft, hop);
    this.window = hannWindow(nFft);
    this.fft = new RealFft(nFft);
    const nBins = this.fft.nBins;
    this.lowerBin = new Int32Array(nBins);
    this.upperWeight = new Float64Array(nBins);
    for (let f = 0; f < nBins; f++) {
      // the model bin of f·rate/nFft Hz: a product of integers first, so equal rates map exactly
      const x = Math.min(this.modelBins - 1, (f * rate * config.nFft) / (nFft * config.sampleRate));
      const lower = Math.min(this.modelBins - 2, Math.floor(x));
      this.lowerBin[f] = lower;
      this.upperWeight[f] = x - lower;
    }
    this.out = Array.from({ length: stems }, () => channels.map(() => new Float32Array(length)));
  }

  /**
   * Separates the next `count` frames of every channel.
   * @returns the frames done so far
   */
  advance(count: number): number {
    const { fft, window, nFft, hop, channels } = this;
    const k = this.out.length;
    const nBins = fft.nBins;
    const pad = nFft / 2;
    const n = channels[0]?.length ?? 0;
    const frame = new Float64Array(nFft);
    const re = new Float64Array(nBins);
    const im = new Float64Array(nBins);
    const mre = new Float64Array(nBins);
    const mim = new Float64Array(nBins);
    const back = new Float64Array(nFft);
    const masks = Array.from({ length: k - 1 }, () => new Float64Array(nBins));
    const end = Math.min(this.frames, this.next + count);
    for (let t = this.next; t < end; t++) {
      this.frameMasks(t * hop, masks);
      const start = t * hop - pad;
      const from = Math.max(0, -start);
      const to = Math.min(nFft, n - start);
      channels.forEach((channel, c) => {
        frame.fill(0);
        for (let j = from; j < to; j++) frame[j] = channel[start + j]! * window[j]!;
        fft.forward(frame, re, im);
        for (let s = 0; s < k - 1; s++) {
          const mask = masks[s]!;
          for (let f = 0; f < nBins; f++) {
            mre[f] = re[f]! * mask[f]!;
            mim[f] = im[f]! * mask[f]!;
          }
          fft.inverse(mre, mim, back);
          const y = this.out[s]![c]!;
          for (let j = from; j < to; j++) y[start + j] = y[start + j]! + back[j]! * window[j]!;
        }
      });
    }
    this.next = end;
    return end;
  }

  /**
   * The masks of the first K − 1 stems for the frame centred on sample `centre` (at the input's
   * rate), on the input's bins: the covering windows' masks at that time, cross-faded.
   */
  private frameMasks(centre: number, into: Float64Array[]): void {
    const { modelBins, modelFrames, clipLength, windowStarts } = this;
    const p = (centre * this.config.sampleRate) / this.rate; // model-rate sample (exact at equal rates)
    while (this.firstWindow < windowStarts.length - 1 && windowStarts[this.firstWindow]! + clipLength <= p) {
      this.held.delete(this.firstWindow);
      this.firstWindow++;
    }
    // cross-fade weights of the windows that cover p (the last one past the end: rounding)
    const covering: { w: number; weight: number }[] = [];
    let total = 0;
    for (let w = this.firstWindow; w < windowStarts.length && windowStarts[w]! <= p; w++) {
      const i = Math.min(clipLength - 1, p - windowStarts[w]!);
      const weight = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / clipLength);
      covering.push({ w, weight });
      total += weight;
    }
    if (covering.length === 0) covering.push({ w: this.firstWindow, weight: (total = 1) }); // a gap: the nearest
    const column = this.column;
    for (let s = 0; s < into.length; s++) {
      column.fill(0);
      for (const { w, weight } of covering) {
        const mask = this.windowMasks(w)[s]!;
        const u = Math.min(modelFrames - 1, Math.max(0, (p - windowStarts[w]!) / this.modelHop));
        const t0 = Math.min(modelFrames - 2, Math.floor(u));
        const b = u - t0;
        const a = weight / total;
        for (let j = 0, i = t0; j < modelBins; j++, i += modelFrames)
          column[j] = column[j]! + a * ((1 - b) * mask[i]! + b * mask[i + 1]!);
      }
      const mask = into[s]!;
      for (let f = 0; f < mask.length; f++) {
        const g = this.lowerBin[f]!;
        const lower = column[g]!;
        mask[f] = lower + this.upperWeight[f]! * (column[g + 1]! - lower);
      }
    }
  }

  /** Window w's masks in stem order (asked for once, held while frames fall in the window). */
  private windowMasks(w: number): readonly Float32Array[] {
    let masks = this.held.get(w);
    if (masks === undefined) {
      masks = this.masksOf(w);
      this.held.set(w, masks);
    }
    return masks;
  }

  /**
   * Divides the overlap-added frames by the window sum-square and makes the last stem the channel
   * minus the others.
   * @returns per stem, one array per channel, as long as the input
   */
  finish(): Float32Array[][] {
    if (this.next < this.frames)
      throw new RangeError("FullRateSeparation: finish before every frame is done");
    const { nFft, hop, window, frames, channels, out } = this;
    const k = out.length;
    const pad = nFft / 2;
    const n = channels[0]?.length ?? 0;
    for (let i = 0; i < n; i++) {
      let wss = 0;
      const tLo = Math.max(0, Math.ceil((i + pad - nFft + 1) / hop));
      const tHi = Math.min(frames - 1, Math.floor((i + pad) / hop));
      for (let t = tLo; t <= tHi; t++) wss += window[i + pad - t * hop]! ** 2;
      const inverse = wss > TINY ? 1 / wss : 0;
      for (let c = 0; c < channels.length; c++) {
        let rest = channels[c]![i]!;
        for (let s = 0; s < k - 1; s++) {
          const y = out[s]![c]!;
          y[i] = y[i]! * inverse;
          rest -= y[i]!;
        }
        out[k - 1]![c]![i] = rest;
      }
    }
    this.held.clear();
    return out;
  }
}
