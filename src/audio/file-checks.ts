/**
 * What an audio file's header claims, checked: a plausible sample rate, and a stream that was not
 * cut short.
 *
 * Did a compressed file end before its stream did? audio-decode decodes whatever frames a file holds
 * and says nothing when the file was cut short (a half-copied download, a full disk), so a truncated
 * FLAC, MP3 or Ogg file would pass as a shorter recording. These checks read the container only:
 * - FLAC: STREAMINFO's total sample count (when the encoder wrote it) against the decoded length.
 * - MP3: the frame chain from the first frame on: a last frame that runs past the end of the file,
 *   or fewer frames than the Xing/Info or VBRI header counts (LAME and most encoders write one).
 * - Ogg (Vorbis, Opus, FLAC-in-Ogg): a last page that runs past the end of the file, or a logical
 *   stream whose last page lacks the end-of-stream flag.
 * Formats: FLAC format spec (xiph.org/flac/format.html), ISO 11172-3 / 13818-3 frame headers, LAME's
 * Xing/Info tag (gabriel.mp3-tech.org/mp3infotag.html), RFC 3533 (Ogg).
 */

import { AudioError } from "./errors.js";

/**
 * Bytes of a file read by position: a Uint8Array of the whole file, or a reader that fetches only the
 * headers the checks visit (src/audio/stream.ts, for files too long to hold).
 */
export interface ByteSource {
  readonly length: number;
  /** The byte at `index` (0 ≤ index < length), else undefined. */
  at(index: number): number | undefined;
}

/**
 * Sample rates accepted from audio files, in Hz: from below telephone audio (8 kHz) to the fastest
 * studio PCM (768 kHz); a header outside this range is corrupt in practice (a 2^31 Hz header would
 * otherwise resample a minute to a single sample).
 */
export const MIN_FILE_SAMPLE_RATE = 1000;
export const MAX_FILE_SAMPLE_RATE = 768000;

/** @throws AudioError naming the file when `rate` (Hz, from its header) is outside the accepted range */
export function checkFileSampleRate(rate: number, sourceName: string): void {
  if (!(Number.isInteger(rate) && rate >= MIN_FILE_SAMPLE_RATE && rate <= MAX_FILE_SAMPLE_RATE)) {
    throw new AudioError(
      `${sourceName}: the header claims a sample rate of ${rate} Hz; expected ${MIN_FILE_SAMPLE_RATE}–${MAX_FILE_SAMPLE_RATE} Hz (corrupt header?)`,
    );
  }
}

/**
 * Rejects non-finite samples, naming the first one's frame and channel.
 * @param block one array per channel; `firstFrame` the frame its first sample is in the file
 * @throws AudioError naming `name`
 */
export function checkFinite(block: readonly Float32Array[], firstFrame: number, name: string): void {
  for (const [c, channel] of block.entries()) {
    for (let i = 0; i < channel.length; i++) {
      if (!Number.isFinite(channel[i]!)) {
        throw new AudioError(
          `${name}: audio contains a ${channel[i]} sample (frame ${firstFrame + i}, channel ${c}); expected finite samples`,
        );
      }
    }
  }
}

/**
 * The error for a file of which nothing decoded.
 * @param problem {@link streamEndProblem}'s phrase, when the stream also looks cut short
 */
export function noAudioError(path: string, problem: string | undefined): AudioError {
  return new AudioError(
    problem === undefined
      ? `${path}: decoder returned no audio (corrupt or empty stream)`
      : `${path}: no audio decoded: ${problem}; the file looks truncated`,
  );
}

/**
 * The warning for a file whose stream looks cut short but some of which decoded.
 * @param problem {@link streamEndProblem}'s phrase
 * @param seconds how much decoded, seconds
 */
export function truncationWarning(path: string, problem: string, seconds: number): string {
  return `${path}: ${problem}; the file looks truncated, using the ${seconds.toFixed(2)} s that decoded`;
}

/**
 * Why the stream in `bytes` looks cut short, or undefined when it looks complete or the format has
 * no way to tell (WAV is checked by its own reader; other formats are not checked).
 *
 * @param bytes the whole file (or a reader of it)
 * @param decodedFrames samples per channel the decoder returned
 * @returns a phrase such as "the stream ended early: 1323000 of 2646000 samples (STREAMINFO)"
 */
export function streamEndProblem(bytes: ByteSource, decodedFrames: number): string | undefined {
  if (startsWith(bytes, 0, "fLaC")) return flacProblem(bytes, decodedFrames);
  if (startsWith(bytes, 0, "OggS")) return oggProblem(bytes);
  const start = skipId3v2(bytes);
  if (mpegHeader(bytes, start) !== undefined) return mp3Problem(bytes, start);
  return undefined;
}

/**
 * The compressed format of a file from its first bytes, by audio-decode's name for its decoder: `flac`
 * (native, or after an ID3v2 tag, or FLAC in Ogg), `opus`, `oga` (Ogg Vorbis), `mp3` (MPEG audio, after
 * an optional ID3v2 tag); undefined for anything else.
 * @param head the file's first bytes (a few KB suffice; the ID3v2 tag is skipped by its size)
 */
export function compressedFormat(head: ByteSource): "flac" | "opus" | "oga" | "mp3" | undefined {
  if (startsWith(head, 0, "OggS")) {
    // the first page holds the first packet, which names the codec
    const first = Math.min(head.length, 27 + (head.at(26) ?? 0) + 16);
    for (let o = 27; o < first; o++) {
      if (startsWith(head, o, "OpusHead")) return "opus";
      if (startsWith(head, o, "\x7fFLAC")) return "flac";
      if (startsWith(head, o, "\x01vorbis")) return "oga";
    }
    return undefined;
  }
  const start = skipId3v2(head);
  if (startsWith(head, start, "fLaC")) return "flac";
  return mpegHeader(head, start) !== undefined ? "mp3" : undefined;
}

function startsWith(bytes: ByteSource, offset: number, text: string): boolean {
  if (offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes.at(offset + i) !== text.charCodeAt(i)) return false;
  return true;
}

function u32be(b: ByteSource, o: number): number {
  return ((b.at(o)! << 24) | (b.at(o + 1)! << 16) | (b.at(o + 2)! << 8) | b.at(o + 3)!) >>> 0;
}

function flacProblem(bytes: ByteSource, decodedFrames: number): string | undefined {
  // Metadata blocks follow "fLaC": 1 byte (last-block flag, type), 3 bytes length. STREAMINFO (type 0)
  // holds the total samples per channel in 36 bits at body bytes 13.5–17 (0 = unknown).
  let o = 4;
  while (o + 4 <= bytes.length) {
    const type = bytes.at(o)! & 0x7f;
    const length = (bytes.at(o + 1)! << 16) | (bytes.at(o + 2)! << 8) | bytes.at(o + 3)!;
    const body = o + 4;
    if (type === 0 && body + 18 <= bytes.length) {
      const total = (bytes.at(body + 13)! & 0x0f) * 2 ** 32 + u32be(bytes, body + 14);
      if (total > 0 && decodedFrames < total) {
        return `the stream ended early: ${decodedFrames} of ${total} samples per channel decoded (STREAMINFO counts ${total})`;
      }
      return undefined;
    }
    if (bytes.at(o)! & 0x80) break;
    o = body + length;
  }
  return undefined;
}

interface MpegHeader {
  /** Frame length in bytes, header included. */
  length: number;
  /** Version (1, 2 or 2.5 as 3, 2, 0 bits), layer bits, sample-rate index: equal for every frame. */
  key: number;
  version: number;
  layer: number;
  mono: boolean;
}

// Bitrates in kbit/s by [MPEG-1 ? 0 : 1][layer 1..3][index].
const BITRATES = [
  [
    [],
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  [
    [],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
];
// Sample rates by version bits (0 = MPEG-2.5, 2 = MPEG-2, 3 = MPEG-1) and index.
const MPEG_RATES: Record<number, number[]> = {
  0: [11025, 12000, 8000],
  2: [22050, 24000, 16000],
  3: [44100, 48000, 32000],
};

/** The MPEG audio frame header at o, or undefined (no sync, reserved fields, free format). */
function mpegHeader(b: ByteSource, o: number): MpegHeader | undefined {
  if (o + 4 > b.length || b.at(o) !== 0xff || (b.at(o + 1)! & 0xe0) !== 0xe0) return undefined;
  const version = (b.at(o + 1)! >> 3) & 3;
  const layerBits = (b.at(o + 1)! >> 1) & 3;
  const bitrateIndex = b.at(o + 2)! >> 4;
  const rateIndex = (b.at(o + 2)! >> 2) & 3;
  if (version === 1 || layerBits === 0 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) {
    return undefined;
  }
  const layer = 4 - layerBits;
  const rate = MPEG_RATES[version]![rateIndex]!;
  const bitrate = BITRATES[version === 3 ? 0 : 1]![layer]![bitrateIndex]! * 1000;
  const padding = (b.at(o + 2)! >> 1) & 1;
  let length: number;
  if (layer === 1) length = (Math.floor((12 * bitrate) / rate) + padding) * 4;
  else if (layer === 3 && version !== 3) length = Math.floor((72 * bitrate) / rate) + padding;
  else length = Math.floor((144 * bitrate) / rate) + padding;
  return {
    length,
    key: (b.at(o + 1)! & 0x1e) | (rateIndex << 8),
    version,
    layer,
    mono: b.at(o + 3)! >> 6 === 3,
  };
}

/** Offset of the first byte after an ID3v2 tag at the start (0 when there is none). */
function skipId3v2(b: ByteSource): number {
  if (!startsWith(b, 0, "ID3") || b.length < 10) return 0;
  const size =
    ((b.at(6)! & 0x7f) << 21) | ((b.at(7)! & 0x7f) << 14) | ((b.at(8)! & 0x7f) << 7) | (b.at(9)! & 0x7f);
  return 10 + size + (b.at(5)! & 0x10 ? 10 : 0);
}

/** The frame count of a Xing/Info or VBRI header in the frame at o, and the header's name, if any. */
function taggedFrameCount(
  b: ByteSource,
  o: number,
  h: MpegHeader,
): { frames: number; tag: string } | undefined {
  if (h.layer !== 3) return undefined;
  const sideInfo = h.version === 3 ? (h.mono ? 17 : 32) : h.mono ? 9 : 17;
  const xing = o + 4 + sideInfo;
  if (startsWith(b, xing, "Xing") || startsWith(b, xing, "Info")) {
    const tag = startsWith(b, xing, "Xing") ? "Xing" : "Info";
    return xing + 12 <= b.length && b.at(xing + 7)! & 1 ? { frames: u32be(b, xing + 8), tag } : undefined;
  }
  const vbri = o + 36;
  if (startsWith(b, vbri, "VBRI") && vbri + 18 <= b.length)
    return { frames: u32be(b, vbri + 14), tag: "VBRI" };
  return undefined;
}

function mp3Problem(b: ByteSource, start: number): string | undefined {
  const first = mpegHeader(b, start)!;
  const tagged = taggedFrameCount(b, start, first);
  let frames = 0;
  let o = start;
  for (;;) {
    const h = mpegHeader(b, o);
    if (h === undefined || h.key !== first.key) break;
    if (o + h.length > b.length) {
      return `the stream ended early: the last MPEG frame is cut off (${b.length - o} of ${h.length} bytes)`;
    }
    frames++;
    o += h.length;
  }
  // LAME's count leaves out the tag's own frame, some encoders include it: compare with the frames
  // including the tag frame, so neither reads as short.
  if (tagged !== undefined && frames < tagged.frames) {
    return `the stream ended early: the file holds ${frames} MPEG frames, its ${tagged.tag} header counts ${tagged.frames}`;
  }
  return undefined;
}

function oggProblem(b: ByteSource): string | undefined {
  // Page: "OggS", version, header type (0x04 = last page of its logical stream), granule (8), serial
  // (4), sequence (4), CRC (4), segment count n, n segment lengths, then the segments.
  const open = new Set<number>();
  let o = 0;
  while (o < b.length) {
    if (!startsWith(b, o, "OggS")) return undefined; // not a page: leave judging the data to the decoder
    if (o + 27 > b.length) return "the stream ended early: the last Ogg page header is cut off";
    const segments = b.at(o + 26)!;
    if (o + 27 + segments > b.length) return "the stream ended early: the last Ogg page header is cut off";
    let length = 27 + segments;
    for (let i = 0; i < segments; i++) length += b.at(o + 27 + i)!;
    if (o + length > b.length) {
      return `the stream ended early: the last Ogg page is cut off (${b.length - o} of ${length} bytes)`;
    }
    const serial =
      (b.at(o + 14)! | (b.at(o + 15)! << 8) | (b.at(o + 16)! << 16) | (b.at(o + 17)! << 24)) >>> 0;
    if (b.at(o + 5)! & 0x04) open.delete(serial);
    else open.add(serial);
    o += length;
  }
  if (open.size > 0) return "the stream ended early: its last Ogg page lacks the end-of-stream flag";
  return undefined;
}
