/**
 * Audio in blocks, for files longer than memory should hold: a WAV file's header is read, then its
 * data chunk is decoded block by block through a file handle (each block by {@link decodeWav}, so the
 * samples are exactly the whole-file decoder's); large MP3, FLAC, Ogg Vorbis and Opus files are
 * decoded in chunks by audio-decode's chunked decoder (src/audio/chunked.ts); every other format is
 * decoded whole by audio-decode and handed out in blocks of that one copy. A
 * {@link StreamResampler} resamples block by block to exactly the samples of {@link resample} on the
 * whole signal.
 */
import { type FileHandle, open, stat } from "node:fs/promises";
import { chunkedBlocks, chunkedFormat, surveyChunkedAudio } from "./chunked.js";
import { AudioError } from "./errors.js";
import { checkFinite } from "./file-checks.js";
import { decodeAudioFile, warnOnStderr } from "./load.js";
import { type ResampleLayout, resampleLayout } from "./resample.js";
import { decodeWav } from "./wav.js";

/** Frames per block by default (≈ 1.5 s at 44.1 kHz). */
export const DEFAULT_BLOCK_FRAMES = 65536;

/** Audio that can be read (more than once) in blocks of frames. */
export interface AudioStream {
  /** Hz. */
  readonly sampleRate: number;
  /** Channels (≥ 1). */
  readonly channels: number;
  /** Frames (samples per channel, ≥ 1). */
  readonly frames: number;
  /**
   * The audio in order, in blocks of at most `blockFrames` frames: one array per channel (fresh
   * arrays, or views of audio held in memory: do not modify them).
   * @throws AudioError naming the file for NaN or infinite samples, or a read that fails
   */
  blocks(blockFrames?: number): AsyncGenerator<Float32Array[]>;
  /** Releases the file (when there is one). */
  close(): Promise<void>;
}

/**
 * Audio held in memory, as a stream.
 * @param channels one array per channel, equal lengths ≥ 1
 * @param sampleRate Hz
 */
export function memoryAudioStream(channels: readonly Float32Array[], sampleRate: number): AudioStream {
  const frames = channels[0]?.length ?? 0;
  return {
    sampleRate,
    channels: channels.length,
    frames,
    async *blocks(blockFrames = DEFAULT_BLOCK_FRAMES) {
      for (let i = 0; i < frames; i += blockFrames)
        yield channels.map((c) => c.subarray(i, Math.min(frames, i + blockFrames)));
    },
    close: async () => undefined,
  };
}

/** Where a WAV file's samples are: the fmt chunk's bytes and the data chunk's place. */
interface WavLayout {
  /** A complete "fmt " chunk (id, size, body, pad). */
  fmtChunk: Uint8Array;
  dataOffset: number;
  dataBytes: number;
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

const text = (bytes: Uint8Array, offset: number, length: number): string =>
  String.fromCharCode(...bytes.subarray(offset, offset + length));

/**
 * Finds the fmt and data chunks of a RIFF/RF64 WAVE file without reading its samples; undefined
 * when the file is not one we can stream (then it is decoded whole, with decodeWav's errors).
 */
async function wavLayout(file: FileHandle, size: number): Promise<WavLayout | undefined> {
  const head = await readAt(file, 0, 12);
  if (head.length < 12 || text(head, 8, 4) !== "WAVE") return undefined;
  const riff = text(head, 0, 4);
  if (riff !== "RIFF" && riff !== "RF64") return undefined;
  let fmtChunk: Uint8Array | undefined;
  let rf64DataSize: number | undefined;
  for (let offset = 12; offset + 8 <= size;) {
    const header = await readAt(file, offset, 8);
    const view = new DataView(header.buffer, header.byteOffset, 8);
    const id = text(header, 0, 4);
    let chunkSize = view.getUint32(4, true);
    const body = offset + 8;
    if (id === "ds64") {
      const ds64 = await readAt(file, body, 16);
      if (ds64.length < 16) return undefined;
      const v = new DataView(ds64.buffer, ds64.byteOffset, 16);
      rf64DataSize = v.getUint32(8, true) + v.getUint32(12, true) * 2 ** 32;
    } else if (id === "fmt ") {
      if (chunkSize > 4096) return undefined;
      fmtChunk = await readAt(file, offset, 8 + chunkSize + (chunkSize % 2));
    } else if (id === "data") {
      const remaining = size - body;
      if (riff === "RF64" && chunkSize === 0xffffffff && rf64DataSize !== undefined) chunkSize = rf64DataSize;
      if (chunkSize === 0xffffffff || (chunkSize === 0 && remaining > 0 && riff === "RIFF")) {
        chunkSize = remaining; // a streaming writer left the size unset (as decodeWav reads it)
      }
      if (fmtChunk === undefined || chunkSize > remaining) return undefined;
      return { fmtChunk, dataOffset: body, dataBytes: chunkSize };
    }
    offset = body + chunkSize + (chunkSize % 2);
  }
  return undefined;
}

/** A WAV file of `fmtChunk`'s format holding `data` (what decodeWav decodes a block from). */
function wavOf(fmtChunk: Uint8Array, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(12 + fmtChunk.length + 8 + data.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x52, 0x49, 0x46, 0x46], 0); // RIFF
  view.setUint32(4, bytes.length - 8, true);
  bytes.set([0x57, 0x41, 0x56, 0x45], 8); // WAVE
  bytes.set(fmtChunk, 12);
  // a fmt chunk padded to even length (an odd declared size) is copied with its pad byte
  bytes.set([0x64, 0x61, 0x74, 0x61], 12 + fmtChunk.length); // data
  view.setUint32(16 + fmtChunk.length, data.length, true);
  bytes.set(data, 20 + fmtChunk.length);
  return bytes;
}

/** Options of {@link openAudioStream}. */
export interface OpenAudioStreamOptions {
  /** Notices such as a truncated compressed stream (default: printed to stderr). */
  onWarning?: (message: string) => void;
  /**
   * MP3, FLAC, Ogg Vorbis and Opus files of at least this many bytes are decoded in chunks, twice
   * (once when opened, again for each reading of the blocks), holding one chunk at a time; smaller
   * ones are decoded whole, once. Default {@link CHUNKED_DECODE_MIN_BYTES}.
   */
  chunkedMinBytes?: number;
}

/**
 * Compressed files from this size on are decoded in chunks: 2 MiB of a 128 kbit/s MP3 is 2 min 11 s,
 * 46 MB as 44.1 kHz stereo float32, and decoding it whole holds about twice that at its peak.
 */
export const CHUNKED_DECODE_MIN_BYTES = 2 * 1024 * 1024;

/** A compressed file as a stream decoded in chunks, or undefined when it is small or not one. */
async function openChunkedStream(
  path: string,
  options: OpenAudioStreamOptions,
): Promise<AudioStream | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return undefined; // decodeAudioFile says what is wrong, naming the file
  }
  if (size < (options.chunkedMinBytes ?? CHUNKED_DECODE_MIN_BYTES) || size === 0) return undefined;
  const format = chunkedFormat(path, size);
  if (format === undefined) return undefined;
  const info = await surveyChunkedAudio(path, format, size, options.onWarning ?? warnOnStderr);
  return {
    sampleRate: info.sampleRate,
    channels: info.channels,
    frames: info.frames,
    blocks: (blockFrames = DEFAULT_BLOCK_FRAMES) => chunkedBlocks(path, info, blockFrames),
    close: async () => undefined,
  };
}

/**
 * Opens an audio file for reading in blocks: WAV streamed from disk (PCM 8/16/24/32, float 32/64,
 * extensible, RF64); MP3, FLAC, Ogg Vorbis and Opus decoded in chunks when large (see
 * {@link OpenAudioStreamOptions.chunkedMinBytes}); any other format (and a WAV we cannot stream)
 * decoded whole into memory.
 * @throws AudioError naming the file, as decodeAudioFile does, and for zero-length audio
 */
export async function openAudioStream(
  path: string,
  options: OpenAudioStreamOptions = {},
): Promise<AudioStream> {
  let file: FileHandle | undefined;
  try {
    file = await open(path, "r");
    const size = (await file.stat()).size;
    const layout = size > 0 ? await wavLayout(file, size) : undefined;
    if (layout !== undefined) {
      const { fmtChunk, dataOffset, dataBytes } = layout;
      // decodeWav checks the format (codec, bits, block align, rate) on an empty data chunk
      const format = decodeWav(wavOf(fmtChunk, new Uint8Array(0)), path);
      const frameBytes = new DataView(fmtChunk.buffer, fmtChunk.byteOffset).getUint16(20, true);
      const frames = Math.floor(dataBytes / frameBytes);
      if (frames === 0) throw new AudioError(`${path}: zero-length audio (no samples)`);
      const handle = file;
      file = undefined;
      return {
        sampleRate: format.sampleRate,
        channels: format.channels.length,
        frames,
        async *blocks(blockFrames = DEFAULT_BLOCK_FRAMES) {
          for (let first = 0; first < frames; first += blockFrames) {
            const count = Math.min(blockFrames, frames - first);
            const bytes = await readAt(handle, dataOffset + first * frameBytes, count * frameBytes);
            if (bytes.length < count * frameBytes)
              throw new AudioError(`${path}: the file shrank while read`);
            const block = decodeWav(wavOf(fmtChunk, bytes), path).channels;
            checkFinite(block, first, path);
            yield block;
          }
        },
        close: () => handle.close(),
      };
    }
  } catch (error) {
    await file?.close();
    if (error instanceof AudioError) throw error;
    // missing, a folder, unreadable: decodeAudioFile says which, naming the file
  }
  await file?.close();
  const chunked = await openChunkedStream(path, options);
  if (chunked !== undefined) return chunked;
  const decoded = await decodeAudioFile(path, options);
  const frames = decoded.channels[0]?.length ?? 0;
  if (decoded.channels.length === 0 || frames === 0)
    throw new AudioError(`${path}: zero-length audio (no samples)`);
  checkFinite(decoded.channels, 0, path);
  return memoryAudioStream(decoded.channels, decoded.sampleRate);
}

/**
 * Block by block exactly the samples of {@link resample} on the whole signal: the method and the
 * way its output splits come from {@link resampleLayout} for the whole length, outputs are made in
 * chunks that the layout allows (any range for the polyphase sum, whole pairs of blocks for the
 * spectral path, everything at the end for the rest: non-integer rates, integer decimation by a
 * cheap filter) from the input they read, and input older than the next chunk's is dropped.
 */
export class StreamResampler {
  /** Output samples in all: ceil(inputLength · to / from). */
  readonly outputLength: number;
  /** How resample computes this output (undefined for equal rates: samples pass through). */
  private readonly layout: ResampleLayout | undefined;
  private readonly chunkOut: number;
  private buffer: Float32Array;
  /** Input index of buffer[0]; samples held. */
  private bufferStart = 0;
  private held = 0;
  private nextOut = 0;

  /**
   * @param inputLength samples the input will have in all
   * @param chunkInput about how many input samples each chunk spans (more when the layout needs it)
   */
  constructor(
    readonly fromRate: number,
    readonly toRate: number,
    readonly inputLength: number,
    chunkInput = DEFAULT_BLOCK_FRAMES,
  ) {
    if (fromRate === toRate) {
      this.outputLength = inputLength;
      this.chunkOut = 0;
      this.buffer = new Float32Array(0);
      return;
    }
    const layout = resampleLayout(fromRate, toRate, inputLength);
    this.layout = layout;
    this.outputLength = layout.outputLength;
    const { granule } = layout;
    const wanted = Math.max(1, Math.ceil((chunkInput * toRate) / fromRate));
    this.chunkOut = granule === 0 ? this.outputLength : granule * Math.ceil(wanted / granule);
    const [s, e] = layout.inputSpan(0, Math.min(this.outputLength, this.chunkOut));
    this.buffer = new Float32Array(Math.min(inputLength, 2 * (e - s)));
  }

  /** Takes the next input samples; returns the output samples now final (maybe none). */
  push(samples: Float32Array): Float32Array {
    if (this.layout === undefined) {
      this.nextOut += samples.length;
      return samples;
    }
    this.append(samples);
    return this.emit();
  }

  /** The rest of the output once every input sample was pushed. */
  end(): Float32Array {
    if (this.layout === undefined) return new Float32Array(0);
    if (this.bufferStart + this.held !== this.inputLength)
      throw new RangeError(
        `StreamResampler: ${this.bufferStart + this.held} of ${this.inputLength} input samples pushed`,
      );
    return this.emit();
  }

  private append(samples: Float32Array): void {
    if (this.held + samples.length > this.buffer.length) {
      const grown = new Float32Array(Math.max(2 * this.buffer.length, this.held + samples.length));
      grown.set(this.buffer.subarray(0, this.held));
      this.buffer = grown;
    }
    this.buffer.set(samples, this.held);
    this.held += samples.length;
  }

  private emit(): Float32Array {
    const layout = this.layout!;
    const received = this.bufferStart + this.held;
    const parts: Float32Array[] = [];
    while (this.nextOut < this.outputLength) {
      const o0 = this.nextOut;
      const o1 = Math.min(this.outputLength, o0 + this.chunkOut);
      const [s, e] = layout.inputSpan(o0, o1);
      if (e > received) break;
      const piece = this.buffer.subarray(s - this.bufferStart, e - this.bufferStart);
      parts.push(layout.outputs(piece, s, o0, o1));
      this.nextOut = o1;
      // drop the input the next chunk no longer needs
      const keepFrom =
        o1 < this.outputLength
          ? layout.inputSpan(o1, Math.min(this.outputLength, o1 + this.chunkOut))[0]
          : received;
      const drop = Math.min(this.held, keepFrom - this.bufferStart);
      if (drop > 0) {
        this.buffer.copyWithin(0, drop, this.held);
        this.held -= drop;
        this.bufferStart += drop;
      }
    }
    if (parts.length === 1) return parts[0]!;
    const total = parts.reduce((n, p) => n + p.length, 0);
    const joined = new Float32Array(total);
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    return joined;
  }
}

/**
 * The stream mixed to mono (the channels' mean, as downmixToMono) and resampled to `rate`, in blocks.
 * @returns the total length at `rate` and the blocks (fresh arrays, or views of memory)
 */
export function monoAtRate(
  stream: AudioStream,
  rate: number,
  blockFrames = DEFAULT_BLOCK_FRAMES,
): { length: number; blocks: AsyncGenerator<Float32Array> } {
  const resampler = new StreamResampler(stream.sampleRate, rate, stream.frames, blockFrames);
  async function* blocks(): AsyncGenerator<Float32Array> {
    for await (const block of stream.blocks(blockFrames)) {
      const out = resampler.push(downmix(block));
      if (out.length > 0) yield out;
    }
    const rest = resampler.end();
    if (rest.length > 0) yield rest;
  }
  return { length: resampler.outputLength, blocks: blocks() };
}

/** downmixToMono's arithmetic on one block (a view of a mono block, not a copy). */
function downmix(channels: readonly Float32Array[]): Float32Array {
  const first = channels[0]!;
  if (channels.length === 1) return first;
  const n = first.length;
  const out = new Float32Array(n);
  if (channels.length === 2) {
    const second = channels[1]!;
    for (let i = 0; i < n; i++) out[i] = (first[i]! + second[i]!) * 0.5;
    return out;
  }
  const acc = new Float64Array(n);
  for (const ch of channels) for (let i = 0; i < n; i++) acc[i] = acc[i]! + ch[i]!;
  const inv = 1 / channels.length;
  for (let i = 0; i < n; i++) out[i] = acc[i]! * inv;
  return out;
}
