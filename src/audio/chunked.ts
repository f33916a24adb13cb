/**
 * Compressed audio (MP3, FLAC, Ogg Vorbis, Opus) decoded in chunks, for files whose decoded samples
 * memory should not hold (a 2-h 44.1 kHz stereo MP3 decodes to 2.5 GB of float32): the file is read
 * in chunks of bytes through audio-decode's chunked decoder. Opening it decodes it once to learn its
 * length, channels and rate and to check its samples; each reading of its blocks decodes it again.
 * These decoders are frame-based, so the samples are the whole-file decoder's.
 */
import { openSync, closeSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { decodeChunked } from "audio-decode/stream";
import { errorMessage } from "../errors.js";
import { AudioError } from "./errors.js";
import {
  type ByteSource,
  checkFileSampleRate,
  checkFinite,
  compressedFormat,
  noAudioError,
  streamEndProblem,
  truncationWarning,
} from "./file-checks.js";

/** Formats decoded in chunks: audio-decode's names for them. */
type ChunkedFormat = NonNullable<ReturnType<typeof compressedFormat>>;

/** Bytes read from the file per decoder call. */
const READ_BYTES = 1 << 18;

/** A file's bytes read by position through a cached window (for the stream-end checks' header walks). */
class FileBytes implements ByteSource {
  #window = new Uint8Array(0);
  #start = 0;

  constructor(
    private readonly fd: number,
    readonly length: number,
  ) {}

  at(index: number): number | undefined {
    if (!(index >= 0 && index < this.length)) return undefined;
    if (index < this.#start || index >= this.#start + this.#window.length) {
      const buffer = new Uint8Array(Math.min(1 << 16, this.length - index));
      const read = readSync(this.fd, buffer, 0, buffer.length, index);
      this.#window = buffer.subarray(0, read);
      this.#start = index;
      if (read === 0) return undefined;
    }
    return this.#window[index - this.#start];
  }
}

/** f on the file's bytes, read by position (only what f visits). */
function withFileBytes<T>(path: string, size: number, f: (bytes: ByteSource) => T): T {
  const fd = openSync(path, "r");
  try {
    return f(new FileBytes(fd, size));
  } finally {
    closeSync(fd);
  }
}

/**
 * The format of a file this module decodes in chunks (see compressedFormat), or undefined (also when
 * the file cannot be read: the whole-file decoder then says why, naming it).
 * @param size the file's size in bytes
 */
export function chunkedFormat(path: string, size: number): ChunkedFormat | undefined {
  try {
    return withFileBytes(path, size, compressedFormat);
  } catch {
    return undefined;
  }
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const handle = await open(path, "r");
  try {
    for (let position = 0; ;) {
      const buffer = new Uint8Array(READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** The decoder's output chunks of the whole file: one array per channel each (≥ 1 frame). */
async function* decodedChunks(
  path: string,
  format: ChunkedFormat,
): AsyncGenerator<{
  channels: Float32Array[];
  sampleRate: number;
}> {
  const chunks = decodeChunked(fileChunks(path), format);
  for (;;) {
    let next: IteratorResult<{ channelData: Float32Array[]; sampleRate: number }>;
    try {
      next = await chunks.next();
    } catch (error) {
      if (error instanceof AudioError) throw error;
      throw new AudioError(`${path}: cannot decode audio (${errorMessage(error)})`, { cause: error });
    }
    if (next.done === true) return;
    const { channelData, sampleRate } = next.value;
    if (channelData.length > 0 && (channelData[0]?.length ?? 0) > 0)
      yield { channels: channelData, sampleRate };
  }
}

/** What a first decoding pass learnt about a compressed file. */
export interface ChunkedAudioInfo {
  format: ChunkedFormat;
  sampleRate: number;
  channels: number;
  frames: number;
}

/**
 * Decodes a compressed file once, in chunks, holding one chunk at a time: its rate, channel count and
 * length, with the checks of decodeAudioFile and prepareDecoded (finite samples, a plausible rate, a
 * stream that was not cut short: a warning).
 * @throws AudioError naming the file: undecodable, no audio, a rate that changes, a non-finite sample
 */
export async function surveyChunkedAudio(
  path: string,
  format: ChunkedFormat,
  size: number,
  onWarning: (message: string) => void,
): Promise<ChunkedAudioInfo> {
  let frames = 0;
  let channels = 0;
  let sampleRate = 0;
  for await (const chunk of decodedChunks(path, format)) {
    if (sampleRate === 0) {
      sampleRate = chunk.sampleRate;
      checkFileSampleRate(sampleRate, path);
    } else if (chunk.sampleRate !== sampleRate) {
      throw new AudioError(
        `${path}: the sample rate changes from ${sampleRate} to ${chunk.sampleRate} Hz at frame ${frames}; expected one rate`,
      );
    }
    checkFinite(chunk.channels, frames, path);
    channels = Math.max(channels, chunk.channels.length);
    frames += chunk.channels[0]!.length;
  }
  const problem = withFileBytes(path, size, (bytes) => streamEndProblem(bytes, frames));
  if (frames === 0) throw noAudioError(path, problem);
  if (problem !== undefined) onWarning(truncationWarning(path, problem, frames / sampleRate));
  return { format, sampleRate, channels, frames };
}

/**
 * The file's audio in blocks of exactly `blockFrames` frames (the last may be shorter), decoded again
 * chunk by chunk. A chunk the decoder gave fewer channels (an MP3 decoder collapses a passage whose
 * channels are equal) is widened as audio-decode's whole-file merge widens it.
 * @throws AudioError when the file no longer decodes to `info`'s length (it changed since opened)
 */
export async function* chunkedBlocks(
  path: string,
  info: ChunkedAudioInfo,
  blockFrames: number,
): AsyncGenerator<Float32Array[]> {
  const pending: Float32Array[][] = [];
  let pendingFrames = 0;
  let emitted = 0;
  const take = (count: number): Float32Array[] => {
    const block = Array.from({ length: info.channels }, () => new Float32Array(count));
    let filled = 0;
    while (filled < count) {
      const head = pending[0]!;
      const n = Math.min(count - filled, head[0]!.length);
      block.forEach((out, c) => out.set(head[c % head.length]!.subarray(0, n), filled));
      filled += n;
      if (n === head[0]!.length) pending.shift();
      else pending[0] = head.map((channel) => channel.subarray(n));
    }
    pendingFrames -= count;
    emitted += count;
    return block;
  };
  for await (const chunk of decodedChunks(path, info.format)) {
    pending.push(chunk.channels);
    pendingFrames += chunk.channels[0]!.length;
    if (emitted + pendingFrames > info.frames) break;
    while (pendingFrames >= blockFrames) yield take(blockFrames);
  }
  if (emitted + pendingFrames !== info.frames) {
    throw new AudioError(`${path}: the file changed while read (expected ${info.frames} frames)`);
  }
  if (pendingFrames > 0) yield take(pendingFrames);
}
