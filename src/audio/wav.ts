/**
 * WAV (RIFF/WAVE) reading and writing, written out by hand so every error names the file and the
 * problem, and so encoding is byte-for-byte deterministic.
 *
 * Reads: PCM 8-bit (unsigned), 16/24/32-bit (signed); IEEE float 32/64-bit; WAVE_FORMAT_EXTENSIBLE
 * wrapping either. Sample scaling follows libsndfile / soundfile (what librosa uses): a signed
 * n-bit integer x maps to x / 2^(n-1), so full scale is [-1, 1).
 * Writes: 16-bit PCM (round(x * 32767), halves away from zero, clipped by an explicit policy, never wrapped) or 32-bit float.
 */
import { AudioError } from "./errors.js";
import { checkFileSampleRate } from "./file-checks.js";

/** Decoded audio: one Float32Array per channel (equal lengths), samples nominally in [-1, 1]. */
export interface DecodedAudio {
  /** `channels[c][i]` is sample i of channel c; all channels have the same length. */
  channels: Float32Array[];
  /** Samples per second (Hz). */
  sampleRate: number;
}

/** Sample encoding of a written WAV file. */
export type WavEncoding = "pcm16" | "float32";

/**
 * What to do with samples outside [-1, 1] when writing 16-bit PCM:
 * `clamp` clips them to ±1 (and reports how many), `rescale` divides the whole signal by its peak,
 * `error` throws an {@link AudioError}.
 */
export type ClipMode = "clamp" | "rescale" | "error";

/** What encoding did to the samples. */
export interface EncodeReport {
  /** Number of samples (over all channels) that were clipped to ±1 (`clamp` mode only). */
  clippedSamples: number;
  /** Largest |sample| of the input, before any scaling. */
  peak: number;
  /** Factor the samples were multiplied by before quantising (1 unless `rescale` kicked in). */
  scale: number;
}

const FORMAT_PCM = 0x0001;
const FORMAT_IEEE_FLOAT = 0x0003;
const FORMAT_ALAW = 0x0006;
const FORMAT_MULAW = 0x0007;
const FORMAT_EXTENSIBLE = 0xfffe;

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += String.fromCharCode(bytes[offset + i] ?? 0);
  return s;
}

/** True when `bytes` starts like a RIFF/WAVE (or RF64/WAVE) file. */
export function looksLikeWav(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const riff = ascii(bytes, 0, 4);
  return (riff === "RIFF" || riff === "RF64") && ascii(bytes, 8, 4) === "WAVE";
}

interface FmtChunk {
  formatTag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function formatName(tag: number): string {
  switch (tag) {
    case FORMAT_ALAW:
      return "A-law (format 6)";
    case FORMAT_MULAW:
      return "mu-law (format 7)";
    case 0x0002:
      return "Microsoft ADPCM (format 2)";
    case 0x0011:
      return "IMA ADPCM (format 0x11)";
    case 0x0055:
      return "MPEG layer 3 (format 0x55)";
    default:
      return `format tag 0x${tag.toString(16).padStart(4, "0")}`;
  }
}

/** True on a little-endian host (WAV's byte order): 16-bit samples can be viewed in place. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where a WAV file's samples lie and how they are stored: what {@link readWavLayout} finds. */
export interface WavLayout {
  /** `int`: PCM 8 (unsigned), 16, 24 or 32 bits; `float`: IEEE 32 or 64 bits. */
  kind: "int" | "float";
  channels: number;
  /** Hz. */
  sampleRate: number;
  bitsPerSample: number;
  /** Byte offset of the first sample in the file. */
  dataOffset: number;
  /** Whole frames of the data chunk. */
  frames: number;
}

/**
 * Reads a WAV file's header: its format and where its samples lie, checked as {@link decodeWav}
 * checks them, without decoding them.
 *
 * @param bytes the file's bytes, or its beginning up to at least the data chunk's header
 * @param sourceName file name used in error messages
 * @param fileBytes the whole file's size (default `bytes.length`): where the data chunk may extend
 * @throws AudioError as {@link decodeWav} for the header (also when `bytes` ends before the data
 *   chunk's header)
 */
export function readWavLayout(bytes: Uint8Array, sourceName: string, fileBytes = bytes.length): WavLayout {
  const fail = (problem: string): never => {
    throw new AudioError(`${sourceName}: ${problem}`);
  };
  if (bytes.length < 12) fail(`truncated WAV header (${bytes.length} bytes, expected at least 12)`);
  const riff = ascii(bytes, 0, 4);
  if (riff === "RIFX") fail("big-endian RIFX WAV files are not supported");
  if ((riff !== "RIFF" && riff !== "RF64") || ascii(bytes, 8, 4) !== "WAVE") {
    fail(`not a WAV file (starts with ${JSON.stringify(ascii(bytes, 0, 4))}, expected "RIFF....WAVE")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: FmtChunk | undefined;
  let dataOffset = -1;
  let dataSize = 0;
  let rf64DataSize: number | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = ascii(bytes, offset, 4);
    let size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "ds64") {
      if (body + 28 > bytes.length) fail("truncated ds64 chunk");
      rf64DataSize = view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 2 ** 32;
    } else if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) {
        fail(
          `truncated or corrupt fmt chunk (${Math.min(size, bytes.length - body)} bytes, expected at least 16)`,
        );
      }
      let formatTag = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const blockAlign = view.getUint16(body + 12, true);
      let bitsPerSample = view.getUint16(body + 14, true);
      if (formatTag === FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 40 > bytes.length)
          fail("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk (expected 40 bytes)");
        const validBits = view.getUint16(body + 18, true);
        // The sub-format GUID starts with the plain format tag (KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT).
        formatTag = view.getUint16(body + 24, true);
        if (validBits !== 0 && validBits > bitsPerSample) {
          fail(`corrupt fmt chunk: ${validBits} valid bits in a ${bitsPerSample}-bit container`);
        }
        // Samples are left-justified in their container, so decoding by container size is correct.
        bitsPerSample = blockAlign > 0 && channels > 0 ? (blockAlign / channels) * 8 : bitsPerSample;
      }
      fmt = { formatTag, channels, sampleRate, blockAlign, bitsPerSample };
    } else if (id === "data") {
      dataOffset = body;
      const remaining = fileBytes - body;
      if (riff === "RF64" && size === 0xffffffff && rf64DataSize !== undefined) size = rf64DataSize;
      if (
        size === 0xffffffff ||
        (size === 0 && remaining > 0 && riff === "RIFF" && view.getUint32(4, true) === 0)
      ) {
        // Streaming writers leave the size unset; take everything that is there.
        size = remaining;
      }
      if (size > remaining) {
        fail(`truncated WAV data: the data chunk declares ${size} bytes but only ${remaining} remain`);
      }
      dataSize = size;
      break;
    }
    offset = body + size + (size % 2); // chunks are padded to even length
  }
  if (fmt === undefined) fail("corrupt WAV header: no fmt chunk before the data");
  if (dataOffset < 0) fail("corrupt or truncated WAV file: no data chunk");
  const f = fmt as FmtChunk;
  if (f.channels === 0) fail("corrupt fmt chunk: 0 channels");
  checkFileSampleRate(f.sampleRate, sourceName);
  let kind: "int" | "float";
  if (f.formatTag === FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(f.bitsPerSample))
      fail(`unsupported PCM bit depth ${f.bitsPerSample} (expected 8, 16, 24 or 32)`);
    kind = "int";
  } else if (f.formatTag === FORMAT_IEEE_FLOAT) {
    if (f.bitsPerSample !== 32 && f.bitsPerSample !== 64)
      fail(`unsupported float bit depth ${f.bitsPerSample} (expected 32 or 64)`);
    kind = "float";
  } else {
    return fail(`unsupported WAV codec ${formatName(f.formatTag)}; expected PCM or IEEE float`);
  }
  const frameBytes = (f.bitsPerSample / 8) * f.channels;
  if (f.blockAlign !== 0 && f.blockAlign !== frameBytes) {
    fail(
      `corrupt fmt chunk: block align ${f.blockAlign} does not match ${f.channels} channels × ${f.bitsPerSample} bits`,
    );
  }
  return {
    kind,
    channels: f.channels,
    sampleRate: f.sampleRate,
    bitsPerSample: f.bitsPerSample,
    dataOffset,
    frames: Math.floor(dataSize / frameBytes),
  };
}

/**
 * Decodes a whole WAV file held in memory. Synchronous (usable in worker threads).
 *
 * @param bytes the file's bytes
 * @param sourceName file name used in error messages
 * @returns channels as Float32Array (length = frames), and the sample rate in Hz
 * @throws AudioError for a truncated or corrupt header (a sample rate outside 1000–768000 Hz
 *   included), an unsupported codec, or a data chunk that runs past the end of the file. A
 *   zero-frame file decodes to empty channels (callers such as `loadAudio` reject it).
 */
export function decodeWav(bytes: Uint8Array, sourceName: string): DecodedAudio {
  const {
    kind,
    channels: channelCount,
    sampleRate,
    bitsPerSample,
    dataOffset,
    frames,
  } = readWavLayout(bytes, sourceName);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bytesPerSample = bitsPerSample / 8;
  const frameBytes = bytesPerSample * channelCount;
  const channels: Float32Array[] = [];
  for (let c = 0; c < channelCount; c++) channels.push(new Float32Array(frames));
  for (let c = 0; c < channelCount; c++) {
    const out = channels[c] as Float32Array;
    let p = dataOffset + c * bytesPerSample;
    if (kind === "float") {
      if (bitsPerSample === 32)
        for (let i = 0; i < frames; i++, p += frameBytes) out[i] = view.getFloat32(p, true);
      else for (let i = 0; i < frames; i++, p += frameBytes) out[i] = view.getFloat64(p, true);
    } else if (bitsPerSample === 8) {
      for (let i = 0; i < frames; i++, p += frameBytes) out[i] = ((bytes[p] as number) - 128) / 128;
    } else if (bitsPerSample === 16) {
      if (LITTLE_ENDIAN && frames > 0 && (bytes.byteOffset + p) % 2 === 0) {
        // Aligned: read through an Int16Array view (≈5× faster than DataView.getInt16 per sample).
        const pcm = new Int16Array(bytes.buffer, bytes.byteOffset + p, (frames - 1) * channelCount + 1);
        for (let i = 0, j = 0; i < frames; i++, j += channelCount) out[i] = pcm[j]! / 32768;
      } else {
        for (let i = 0; i < frames; i++, p += frameBytes) out[i] = view.getInt16(p, true) / 32768;
      }
    } else if (bitsPerSample === 24) {
      for (let i = 0; i < frames; i++, p += frameBytes) {
        const v = (bytes[p] as number) | ((bytes[p + 1] as number) << 8) | ((bytes[p + 2] as number) << 16);
        out[i] = ((v << 8) >> 8) / 8388608;
      }
    } else {
      for (let i = 0; i < frames; i++, p += frameBytes) out[i] = view.getInt32(p, true) / 2147483648;
    }
  }
  return { channels, sampleRate };
}

/**
 * Encodes audio as a canonical 44-byte-header WAV (PCM16) or a WAVE_FORMAT_IEEE_FLOAT file with a
 * `fact` chunk (float32). The same input always gives the same bytes.
 *
 * @param samples mono samples, or one Float32Array per channel (equal lengths), nominally in [-1, 1]
 * @param sampleRate Hz, positive integer
 * @param options.encoding `pcm16` (default): round(x * 32767), never wrapped; `float32`: stored as is
 *   (no clipping is needed, so `clipMode` does not apply and the report shows scale 1)
 * @param options.clipMode for pcm16, what to do with |x| > 1 (default `clamp`), see {@link ClipMode}
 * @throws AudioError on non-finite samples, unequal channel lengths, or clipping with `clipMode: "error"`
 */
export function encodeWav(
  samples: Float32Array | Float32Array[],
  sampleRate: number,
  options: { encoding?: WavEncoding; clipMode?: ClipMode } = {},
): { bytes: Uint8Array; report: EncodeReport } {
  const encoding = options.encoding ?? "pcm16";
  const clipMode = options.clipMode ?? "clamp";
  const channels = samples instanceof Float32Array ? [samples] : samples;
  if (channels.length === 0) throw new AudioError("encodeWav: no channels given");
  if (channels.length > 65535)
    throw new AudioError(`encodeWav: ${channels.length} channels is more than WAV allows`);
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate > 0xffffffff) {
    throw new AudioError(`encodeWav: sample rate must be a positive integer in Hz, got ${sampleRate}`);
  }
  const frames = (channels[0] as Float32Array).length;
  let peak = 0;
  for (let c = 0; c < channels.length; c++) {
    const ch = channels[c] as Float32Array;
    if (ch.length !== frames)
      throw new AudioError(`encodeWav: channel ${c} has ${ch.length} samples, channel 0 has ${frames}`);
    for (let i = 0; i < frames; i++) {
      const v = ch[i] as number;
      if (!Number.isFinite(v))
        throw new AudioError(`encodeWav: sample ${i} of channel ${c} is ${v}; audio must be finite`);
      const a = Math.abs(v);
      if (a > peak) peak = a;
    }
  }
  const nch = channels.length;
  const bytesPerSample = encoding === "pcm16" ? 2 : 4;
  const dataBytes = frames * nch * bytesPerSample;
  const headerBytes = encoding === "pcm16" ? 44 : 58; // float: 18-byte fmt + 12-byte fact chunk
  if (headerBytes - 8 + dataBytes + (dataBytes % 2) > 0xffffffff) {
    throw new AudioError(
      `encodeWav: ${dataBytes} bytes of audio is too large for a RIFF WAV file (4 GiB limit)`,
    );
  }
  const bytes = new Uint8Array(headerBytes + dataBytes + (dataBytes % 2));
  const view = new DataView(bytes.buffer);
  const put = (offset: number, text: string): void => {
    for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  put(0, "RIFF");
  view.setUint32(4, bytes.length - 8, true);
  put(8, "WAVE");
  put(12, "fmt ");
  view.setUint32(16, encoding === "pcm16" ? 16 : 18, true);
  view.setUint16(20, encoding === "pcm16" ? FORMAT_PCM : FORMAT_IEEE_FLOAT, true);
  view.setUint16(22, nch, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * nch * bytesPerSample, true);
  view.setUint16(32, nch * bytesPerSample, true);
  view.setUint16(34, bytesPerSample * 8, true);
  let p: number;
  if (encoding === "float32") {
    view.setUint16(36, 0, true); // cbSize
    put(38, "fact");
    view.setUint32(42, 4, true);
    view.setUint32(46, frames, true);
    put(50, "data");
    view.setUint32(54, dataBytes, true);
    p = 58;
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < nch; c++, p += 4)
        view.setFloat32(p, (channels[c] as Float32Array)[i] as number, true);
    }
    return { bytes, report: { clippedSamples: 0, peak, scale: 1 } };
  }
  put(36, "data");
  view.setUint32(40, dataBytes, true);
  let scale = 1;
  if (peak > 1) {
    if (clipMode === "error") {
      throw new AudioError(`encodeWav: peak |sample| is ${peak}, above 1, and clipMode is "error"`);
    }
    if (clipMode === "rescale") scale = 1 / peak;
  }
  let clippedSamples = 0;
  p = 44;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nch; c++, p += 2) {
      const x = ((channels[c] as Float32Array)[i] as number) * scale;
      let v: number;
      if (x > 1) {
        v = 32767;
        if (scale === 1) clippedSamples++; // with rescale, x exceeds 1 by rounding only
      } else if (x < -1) {
        v = -32767; // symmetric: -32768 is never written
        if (scale === 1) clippedSamples++;
      } else {
        v = x < 0 ? -Math.round(-x * 32767) : Math.round(x * 32767); // halves round away from zero
      }
      view.setInt16(p, v, true);
    }
  }
  return { bytes, report: { clippedSamples, peak, scale } };
}
