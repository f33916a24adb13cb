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
 * only the masks of the windows around the current frame, and writes the stems in place (float32).
 * Given the whole input, the input and the K stems are the only arrays as long as it; given it in
 * blocks, only the samples from the first not yet taken to the last frame done are held, and the
 * finished stems are handed out as they come (a file of any length in bounded memory). For one
 * window at R = r the mapping is the identity: the stems are separateClip's, to float32 round-off.
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

/** The input's shape when it comes in blocks ({@link FullRateSeparation.push}). */
export interface StreamedInput {
  /** Channels. */
  channels: number;
  /** Frames (samples per channel) in all. */
  length: number;
}

/**
 * One pass that separates every channel of the input at its own rate with the masks of the model's
 * windows (see the module comment). Give it the whole input, or {@link push} the input in blocks;
 * run {@link advance} (it goes as far as the input allows; yield between calls as you like) and
 * {@link take} the finished stems as they come, or {@link finish} for everything at once. Holds the
 * input and the stems only from the first sample not yet taken to the last frame done.
 */
export class FullRateSeparation {
  /** STFT frames of each channel. */
  readonly frames: number;
  /** Frames (samples per channel) of the input. */
  readonly length: number;
  private readonly channelCount: number;
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
  private readonly stems: number;
  /** The first sample not yet taken: index 0 of {@link input} and {@link acc}. */
  private base = 0;
  /** Samples received (input index). */
  private received = 0;
  /** Per channel, the input from {@link base}. */
  private input: Float32Array[];
  /** Per stem but the last, per channel: Σ frames·window from {@link base} (float32, in place). */
  private acc: Float32Array[][];

  /**
   * @param input the input, one array per channel (equal lengths), at `rate` Hz; or its shape, and
   *   then its samples through {@link push}
   * @param windowStarts the model's windows, first samples at the model's rate, ascending, covering
   *   the input (each clipLength samples long)
   * @param masksOf K masks [1 + nFft/2, frames] of window w's clip at the model's rate (linearMasks),
   *   in stem order; asked once per window, in order
   * @param stems K
   */
  constructor(
    input: readonly Float32Array[] | StreamedInput,
    private readonly rate: number,
    private readonly config: FeatureConfig,
    private readonly windowStarts: readonly number[],
    private readonly masksOf: (window: number) => readonly Float32Array[],
    stems: number,
  ) {
    const whole = Array.isArray(input) ? (input as readonly Float32Array[]) : undefined;
    const shape = input as StreamedInput;
    this.channelCount = whole?.length ?? shape.channels;
    this.length = whole?.[0]?.length ?? (whole === undefined ? shape.length : 0);
    this.stems = stems;
    const extractor = getExtractor(config);
    this.modelFrames = extractor.frames;
    this.modelHop = extractor.hop;
    this.clipLength = extractor.length;
    this.modelBins = config.nFft / 2 + 1;
    this.column = new Float64Array(this.modelBins);
    const { nFft, hop } = stftAtRate(config, rate);
    this.nFft = nFft;
    this.hop = hop;
    this.frames = frameCount(this.length, nFft, hop);
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
    if (whole !== undefined) {
      // the whole input: held as given (not copied), the stems as long as it
      this.input = [...whole];
      this.received = this.length;
      this.acc = Array.from({ length: stems - 1 }, () => whole.map(() => new Float32Array(this.length)));
    } else {
      this.input = Array.from({ length: this.channelCount }, () => new Float32Array(0));
      this.acc = Array.from({ length: stems - 1 }, () => this.input.map(() => new Float32Array(0)));
    }
  }

  /** The next samples of the input, one array per channel (equal lengths). */
  push(block: readonly Float32Array[]): void {
    const n = block[0]?.length ?? 0;
    if (this.received + n > this.length)
      throw new RangeError(
        `FullRateSeparation: ${this.received + n} samples pushed, the input has ${this.length}`,
      );
    const offset = this.received - this.base;
    this.input = this.input.map((channel, c) => {
      const grown = fit(channel, offset + n);
      grown.set(block[c]!, offset);
      return grown;
    });
    this.received += n;
  }

  /**
   * Separates up to `count` more frames of every channel (those the input received so far covers).
   * @returns the frames done so far
   */
  advance(count: number): number {
    const { fft, window, nFft, hop } = this;
    const k = this.stems;
    const nBins = fft.nBins;
    const pad = nFft / 2;
    const n = this.length;
    const frame = new Float64Array(nFft);
    const re = new Float64Array(nBins);
    const im = new Float64Array(nBins);
    const mre = new Float64Array(nBins);
    const mim = new Float64Array(nBins);
    const back = new Float64Array(nFft);
    const masks = Array.from({ length: k - 1 }, () => new Float64Array(nBins));
    // frames whose samples have all been received
    const ready =
      this.received >= n ? this.frames : Math.max(0, Math.floor((this.received + pad - nFft) / hop) + 1);
    const end = Math.min(this.frames, this.next + count, ready);
    if (end > this.next) {
      const reach = Math.min(n, (end - 1) * hop - pad + nFft) - this.base;
      this.acc = this.acc.map((channels) => channels.map((y) => fit(y, reach)));
    }
    for (let t = this.next; t < end; t++) {
      this.frameMasks(t * hop, masks);
      const start = t * hop - pad;
      const from = Math.max(0, -start);
      const to = Math.min(nFft, n - start);
      const at = start - this.base;
      this.input.forEach((channel, c) => {
        frame.fill(0);
        for (let j = from; j < to; j++) frame[j] = channel[at + j]! * window[j]!;
        fft.forward(frame, re, im);
        for (let s = 0; s < k - 1; s++) {
          const mask = masks[s]!;
          for (let f = 0; f < nBins; f++) {
            mre[f] = re[f]! * mask[f]!;
            mim[f] = im[f]! * mask[f]!;
          }
          fft.inverse(mre, mim, back);
          const y = this.acc[s]![c]!;
          for (let j = from; j < to; j++) y[at + j] = y[at + j]! + back[j]! * window[j]!;
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
   * The stems of the samples no later frame touches, from the first not yet taken: the overlap-added
   * frames divided by the window sum-square, and the last stem the channel minus the others.
   * @returns per stem, one array per channel (empty when nothing new is finished)
   */
  take(): Float32Array[][] {
    const { nFft, hop, window, frames } = this;
    const out = this.acc;
    const k = this.stems;
    const pad = nFft / 2;
    const n = this.length;
    const done = this.next >= frames ? n : Math.min(n, Math.max(0, this.next * hop - pad));
    const count = Math.max(0, done - this.base);
    // the first K − 1 stems are divided in place (their accumulators' finished part), the last is new
    const result = [
      ...out.map((channels) => channels.map((y) => y.subarray(0, count))),
      this.input.map(() => new Float32Array(count)),
    ];
    for (let j = 0; j < count; j++) {
      const i = this.base + j;
      let wss = 0;
      const tLo = Math.max(0, Math.ceil((i + pad - nFft + 1) / hop));
      const tHi = Math.min(frames - 1, Math.floor((i + pad) / hop));
      for (let t = tLo; t <= tHi; t++) wss += window[i + pad - t * hop]! ** 2;
      const inverse = wss > TINY ? 1 / wss : 0;
      for (let c = 0; c < this.channelCount; c++) {
        let rest = this.input[c]![j]!;
        for (let s = 0; s < k - 1; s++) {
          const y = result[s]![c]!;
          y[j] = y[j]! * inverse;
          rest -= y[j]!;
        }
        result[k - 1]![c]![j] = rest;
      }
    }
    if (count > 0) {
      this.input = this.input.map((x) => x.subarray(count));
      this.acc = this.acc.map((channels) => channels.map((y) => y.subarray(count)));
      this.base = done;
    }
    if (this.base >= n) this.held.clear();
    return result;
  }

  /**
   * Every stem whole, once every frame is done (the input given whole).
   * @returns per stem, one array per channel, as long as the input
   */
  finish(): Float32Array[][] {
    if (this.next < this.frames)
      throw new RangeError("FullRateSeparation: finish before every frame is done");
    if (this.base > 0) throw new RangeError("FullRateSeparation: finish after take");
    return this.take();
  }
}

/** `array` if it holds `length` values, else a copy grown to hold them (at least doubled: amortised). */
function fit(array: Float32Array, length: number): Float32Array {
  if (array.length >= length) return array;
  const grown = new Float32Array(Math.max(length, 2 * array.length));
  grown.set(array);
  return grown;
}
