/**
 * Reading audio files of any supported format, mixing to mono, resampling, and writing WAV.
 */
import { readFile } from "node:fs/promises";
import decode from "audio-decode";
import { writeFileAtomic } from "../util/atomic.js";
import { errorMessage } from "../errors.js";
import { AudioError } from "./errors.js";
import { resample } from "./resample.js";
import { checkFileSampleRate, noAudioError, streamEndProblem, truncationWarning } from "./file-checks.js";
import {
  type ClipMode,
  type DecodedAudio,
  type EncodeReport,
  type WavEncoding,
  decodeWav,
  encodeWav,
  looksLikeWav,
} from "./wav.js";

/** Where warnings go unless the caller passes `onWarning`: stderr, as the CLI prints them. */
export function warnOnStderr(message: string): void {
  process.stderr.write(`stemscope: warning: ${message}\n`);
}

/**
 * Decodes an audio file: WAV (every encoding {@link decodeWav} reads) by our own parser; MP3, FLAC,
 * OGG/Vorbis/Opus and the other formats `audio-decode` detects, through it. A FLAC, MP3 or Ogg file
 * whose stream ends early (a truncated copy; see {@link streamEndProblem}) still decodes, with a
 * warning through `onWarning` (default: printed to stderr).
 *
 * @param path file to read
 * @returns one Float32Array per channel (samples in [-1, 1]) and the file's sample rate in Hz
 * @throws AudioError naming the file when it is missing/unreadable, of an unknown format, corrupt,
 *   or claims a sample rate outside 1000–768000 Hz
 */
export async function decodeAudioFile(
  path: string,
  options: { onWarning?: (message: string) => void } = {},
): Promise<DecodedAudio> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new AudioError(`${path}: file not found`, { cause: error });
    if (code === "EISDIR")
      throw new AudioError(`${path}: is a directory, expected an audio file`, { cause: error });
    throw new AudioError(`${path}: cannot read file (${errorMessage(error)})`, { cause: error });
  }
  if (bytes.length === 0) throw new AudioError(`${path}: file is empty (0 bytes)`);
  if (looksLikeWav(bytes) || (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFX")) {
    return decodeWav(bytes, path);
  }
  let decoded: { channelData: Float32Array[]; sampleRate: number };
  try {
    decoded = await decode(bytes);
  } catch (error) {
    const message = errorMessage(error);
    if (/unknown audio format/i.test(message)) {
      throw new AudioError(
        `${path}: unknown audio format (expected WAV, MP3, FLAC, OGG or another format audio-decode reads)`,
        {
          cause: error,
        },
      );
    }
    throw new AudioError(`${path}: cannot decode audio (${message})`, { cause: error });
  }
  const frames = decoded.channelData[0]?.length ?? 0;
  const problem = streamEndProblem(bytes, frames);
  if (decoded.channelData.length === 0 || !(decoded.sampleRate > 0)) {
    throw noAudioError(path, problem);
  }
  checkFileSampleRate(decoded.sampleRate, path);
  if (problem !== undefined) {
    (options.onWarning ?? warnOnStderr)(truncationWarning(path, problem, frames / decoded.sampleRate));
  }
  return { channels: decoded.channelData.map((c) => c.slice()), sampleRate: decoded.sampleRate };
}

/**
 * Mixes channels down to mono by averaging them (what librosa.to_mono does).
 * @param channels one Float32Array per channel, all the same length
 * @returns a new Float32Array of that length
 */
export function downmixToMono(channels: Float32Array[]): Float32Array {
  const first = channels[0];
  if (first === undefined) throw new AudioError("downmixToMono: no channels given");
  if (channels.length === 1) return Float32Array.from(first);
  const n = first.length;
  const second = channels[1]!;
  if (channels.length === 2 && second.length === n) {
    // The same arithmetic as below (a float32 + float32 sum is exact in float64), in one pass.
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (first[i]! + second[i]!) * 0.5;
    return out;
  }
  const acc = new Float64Array(n);
  for (const ch of channels) {
    if (ch.length !== n)
      throw new AudioError(`downmixToMono: channels differ in length (${ch.length} vs ${n})`);
    for (let i = 0; i < n; i++) acc[i] = (acc[i] as number) + (ch[i] as number);
  }
  const out = new Float32Array(n);
  const inv = 1 / channels.length;
  for (let i = 0; i < n; i++) out[i] = (acc[i] as number) * inv;
  return out;
}

/**
 * Makes a signal exactly `length` samples long, like `librosa.util.fix_length`: zero-pads at the end
 * or keeps the first `length` samples. Always returns a new array.
 */
export function fixLength(samples: Float32Array, length: number): Float32Array {
  if (!Number.isInteger(length) || length < 0)
    throw new AudioError(`fixLength: length must be a non-negative integer, got ${length}`);
  const out = new Float32Array(length);
  out.set(samples.length > length ? samples.subarray(0, length) : samples);
  return out;
}

/** Audio ready for feature extraction: mono at the requested rate. */
export interface LoadedAudio {
  /** Mono samples at `sampleRate`, in [-1, 1] nominally. */
  samples: Float32Array;
  /** Hz (the requested rate). */
  sampleRate: number;
  /** The file's own sample rate in Hz. */
  originalSampleRate: number;
  /** The file's channel count before mixing down. */
  originalChannels: number;
  /** samples.length / sampleRate, in seconds. */
  durationSeconds: number;
}

/**
 * Decodes, mixes to mono and resamples an audio file (like `librosa.load(path, sr=16000)`).
 *
 * @param path audio file
 * @param options.sampleRate target rate in Hz, default 16000
 * @param options.onWarning receives warnings such as a truncated stream (default: stderr)
 * @throws AudioError (naming the file) for anything {@link decodeAudioFile} rejects, for zero-length
 *   audio, and for audio containing NaN or infinite samples
 */
export async function loadAudio(
  path: string,
  options: { sampleRate?: number; onWarning?: (message: string) => void } = {},
): Promise<LoadedAudio> {
  const sampleRate = options.sampleRate ?? 16000;
  const decoded = await decodeAudioFile(path, options);
  return prepareDecoded(decoded, path, sampleRate);
}

/**
 * The checks and conversions of {@link loadAudio} on already decoded audio (synchronous, for workers).
 * @param sourceName used in error messages
 */
export function prepareDecoded(decoded: DecodedAudio, sourceName: string, sampleRate = 16000): LoadedAudio {
  const frames = decoded.channels[0]?.length ?? 0;
  if (decoded.channels.length === 0 || frames === 0)
    throw new AudioError(`${sourceName}: zero-length audio (no samples)`);
  let nan = 0;
  let inf = 0;
  for (const ch of decoded.channels) {
    for (let i = 0; i < ch.length; i++) {
      const v = ch[i] as number;
      if (Number.isNaN(v)) nan++;
      else if (!Number.isFinite(v)) inf++;
    }
  }
  const total = frames * decoded.channels.length;
  if (nan === total) throw new AudioError(`${sourceName}: all ${total} samples are NaN`);
  if (nan > 0 || inf > 0) {
    throw new AudioError(
      `${sourceName}: audio contains ${nan} NaN and ${inf} infinite samples of ${total}; expected finite samples`,
    );
  }
  const mono = downmixToMono(decoded.channels);
  const samples = decoded.sampleRate === sampleRate ? mono : resample(mono, decoded.sampleRate, sampleRate);
  return {
    samples,
    sampleRate,
    originalSampleRate: decoded.sampleRate,
    originalChannels: decoded.channels.length,
    durationSeconds: samples.length / sampleRate,
  };
}

/**
 * Writes a WAV file atomically (temp file + rename), see {@link encodeWav} for the encodings and the
 * clipping policy. When samples were clipped it calls `onWarning` (default: prints to stderr).
 *
 * @param path destination; parent folders are created
 * @param samples mono, or one Float32Array per channel
 * @param sampleRate Hz
 * @returns what encoding did (clipped count, peak, scale)
 * @throws AudioError naming the file when encoding fails (e.g. clipping with `clipMode: "error"`)
 */
export async function writeWav(
  path: string,
  samples: Float32Array | Float32Array[],
  sampleRate: number,
  options: { encoding?: WavEncoding; clipMode?: ClipMode; onWarning?: (message: string) => void } = {},
): Promise<EncodeReport> {
  let encoded: { bytes: Uint8Array; report: EncodeReport };
  try {
    encoded = encodeWav(samples, sampleRate, options);
  } catch (error) {
    if (error instanceof AudioError)
      throw new AudioError(`${path}: ${error.message.replace(/^encodeWav: /, "")}`, { cause: error });
    throw error;
  }
  const { bytes, report } = encoded;
  const warn = options.onWarning ?? warnOnStderr;
  if (report.clippedSamples > 0) {
    warn(
      `${path}: clipped ${report.clippedSamples} samples to ±1 (peak was ${report.peak.toFixed(4)}); use clipMode "rescale" to scale instead`,
    );
  } else if (report.scale !== 1) {
    warn(
      `${path}: rescaled by ${report.scale.toPrecision(6)} to avoid clipping (peak was ${report.peak.toFixed(4)})`,
    );
  }
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw new AudioError(`${path}: cannot write file (${errorMessage(error)})`, { cause: error });
  }
  return report;
}
