/**
 * Short-time Fourier transform and its inverse, following librosa 0.10 `librosa.stft` / `istft`
 * (periodic Hann window, center=True padding by nFft/2 on both sides, frames at t · hop, bins
 * k = 0..nFft/2; istft divides the overlap-added frames by the window sum-square, so
 * istft(stft(x)) = x wherever the window sum is nonzero).
 */
import { FeatureError } from "./errors.js";
import { RealFft } from "./fft.js";

/** Periodic Hann window of length n (scipy.signal.get_window("hann", n, fftbins=True)). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** Options shared by {@link stft} and {@link istft}. */
export interface StftOptions {
  /** FFT size and window length (power of two). */
  nFft: number;
  /** Hop in samples, default nFft / 4 (librosa's default). */
  hopLength?: number;
  /** Pad the signal by nFft/2 at both ends so frame t is centred on sample t·hop. Default true. */
  center?: boolean;
  /** Padding used when center is true: zeros ("constant", librosa 0.10's default) or "reflect". */
  padMode?: "constant" | "reflect";
}

/** A complex spectrogram, bins × frames, row-major (`re[k * nFrames + t]`), like librosa's [freq, time]. */
export interface ComplexSpectrogram {
  re: Float32Array;
  im: Float32Array;
  /** 1 + nFft/2. */
  nBins: number;
  nFrames: number;
}

/** Number of STFT frames of a signal of `length` samples (librosa: 1 + (padded − nFft) // hop). */
export function frameCount(length: number, nFft: number, hopLength: number, center = true): number {
  const padded = center ? length + 2 * Math.floor(nFft / 2) : length;
  if (padded < nFft) return 0;
  return 1 + Math.floor((padded - nFft) / hopLength);
}

function checkHop(nFft: number, hop: number): void {
  if (!Number.isInteger(hop) || hop < 1)
    throw new FeatureError(`STFT hop must be a positive integer, got ${hop}`);
  if (hop > nFft)
    throw new FeatureError(`STFT hop ${hop} is larger than nFft ${nFft}; frames would leave gaps`);
}

/**
 * STFT with a periodic Hann window.
 * @param samples mono signal, length n
 * @returns complex spectrogram [1 + nFft/2, frames], frames = 1 + floor(n / hop) when centred
 */
export function stft(samples: Float32Array, options: StftOptions): ComplexSpectrogram {
  const nFft = options.nFft;
  const hop = options.hopLength ?? Math.floor(nFft / 4);
  const center = options.center ?? true;
  const padMode = options.padMode ?? "constant";
  checkHop(nFft, hop);
  const fft = new RealFft(nFft);
  const n = samples.length;
  const pad = center ? nFft / 2 : 0;
  if (center && padMode === "reflect" && n <= pad) {
    throw new FeatureError(`stft: reflect padding needs more than ${pad} samples, got ${n}`);
  }
  const nFrames = frameCount(n, nFft, hop, center);
  if (nFrames === 0) throw new FeatureError(`stft: signal of ${n} samples is shorter than nFft ${nFft}`);
  const nBins = fft.nBins;
  const window = hannWindow(nFft);
  const frame = new Float64Array(nFft);
  const re = new Float64Array(nBins);
  const im = new Float64Array(nBins);
  const outRe = new Float32Array(nBins * nFrames);
  const outIm = new Float32Array(nBins * nFrames);
  for (let t = 0; t < nFrames; t++) {
    const start = t * hop - pad;
    for (let j = 0; j < nFft; j++) {
      let idx = start + j;
      let v = 0;
      if (idx >= 0 && idx < n) v = samples[idx] as number;
      else if (padMode === "reflect" && center) {
        if (idx < 0) idx = -idx;
        else idx = 2 * (n - 1) - idx;
        v = samples[idx] as number; // n > pad guarantees idx is in range
      }
      frame[j] = v * (window[j] as number);
    }
    fft.forward(frame, re, im);
    for (let k = 0; k < nBins; k++) {
      outRe[k * nFrames + t] = re[k] as number;
      outIm[k * nFrames + t] = im[k] as number;
    }
  }
  return { re: outRe, im: outIm, nBins, nFrames };
}

/**
 * Inverse STFT by weighted overlap-add: each frame's inverse FFT is multiplied by the Hann window,
 * summed, and divided by the summed squared window wherever that sum exceeds the float32 tiny value
 * (librosa.istft / torch.istft). With center=true the nFft/2 padding is removed.
 *
 * @param spec [1 + nFft/2, frames] complex spectrogram
 * @param options.length output length in samples (zero-padded / trimmed to it); default the natural
 *   length, hop · (frames − 1) when centred
 */
export function istft(spec: ComplexSpectrogram, options: StftOptions & { length?: number }): Float32Array {
  const nFft = options.nFft;
  const hop = options.hopLength ?? Math.floor(nFft / 4);
  const center = options.center ?? true;
  checkHop(nFft, hop);
  const fft = new RealFft(nFft);
  if (spec.nBins !== fft.nBins)
    throw new FeatureError(
      `istft: spectrogram has ${spec.nBins} bins, expected ${fft.nBins} for nFft ${nFft}`,
    );
  const { nBins, nFrames } = spec;
  const window = hannWindow(nFft);
  const total = nFft + hop * (nFrames - 1);
  const y = new Float64Array(total);
  const wss = new Float64Array(total);
  const re = new Float64Array(nBins);
  const im = new Float64Array(nBins);
  const frame = new Float64Array(nFft);
  for (let t = 0; t < nFrames; t++) {
    for (let k = 0; k < nBins; k++) {
      re[k] = spec.re[k * nFrames + t] as number;
      im[k] = spec.im[k * nFrames + t] as number;
    }
    fft.inverse(re, im, frame);
    const off = t * hop;
    for (let j = 0; j < nFft; j++) {
      const w = window[j] as number;
      y[off + j] = (y[off + j] as number) + (frame[j] as number) * w;
      wss[off + j] = (wss[off + j] as number) + w * w;
    }
  }
  const tiny = 1.1754943508222875e-38;
  for (let i = 0; i < total; i++) if ((wss[i] as number) > tiny) y[i] = (y[i] as number) / (wss[i] as number);
  const start = center ? nFft / 2 : 0;
  const natural = center ? Math.max(0, total - nFft) : total;
  const length = options.length ?? natural;
  const out = new Float32Array(length);
  const avail = Math.min(length, total - start);
  for (let i = 0; i < avail; i++) out[i] = y[start + i] as number;
  return out;
}
