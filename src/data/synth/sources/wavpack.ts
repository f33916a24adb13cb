/**
 * WavPack decoding through Debian's `wvunpack` (package wavpack), and the sampler metadata of a
 * RIFF WAV file (`smpl` chunk: unity note, fine tuning, loops). GrandOrgue stores its pipes as
 * WavPack files with a `.wav` name; `wvunpack` restores the original RIFF file, chunks included.
 */
import { execFileSync } from "node:child_process";
import { decodeWav } from "../../../audio/index.js";
import { DataError } from "../../errors.js";

/** A decoded sample with its sampler metadata. */
export interface DecodedSample {
  /** One Float32Array per channel, samples in [-1, 1]. */
  channels: Float32Array[];
  /** Hz. */
  sampleRate: number;
  /** The `smpl` chunk's MIDI unity note and its pitch above it in cents, when present. */
  unityNote?: number;
  unityCents?: number;
  /** The first loop, [start, end) in sample frames, when present. */
  loop?: [number, number];
}

/** Reads the `smpl` chunk of RIFF WAV bytes (undefined when there is none). */
export function readSmplChunk(bytes: Uint8Array): Omit<DecodedSample, "channels" | "sampleRate"> | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
    const size = view.getUint32(at + 4, true);
    if (id === "smpl" && size >= 36 && at + 8 + size <= bytes.length) {
      const base = at + 8;
      const unityNote = view.getUint32(base + 12, true);
      const unityCents = (view.getUint32(base + 16, true) / 4294967296) * 100;
      const loops = view.getUint32(base + 28, true);
      const out: Omit<DecodedSample, "channels" | "sampleRate"> = { unityNote, unityCents };
      if (loops > 0 && size >= 36 + 24) {
        const start = view.getUint32(base + 36 + 8, true);
        const end = view.getUint32(base + 36 + 12, true); // inclusive in the smpl chunk
        if (end > start) out.loop = [start, end + 1];
      }
      return out;
    }
    at += 8 + size + (size & 1);
  }
  return undefined;
}

/**
 * Decodes WavPack bytes with `wvunpack` into samples and the original file's `smpl` metadata.
 * @param name the file's name, for error messages
 * @throws DataError naming the file when wvunpack is missing or fails
 */
export function decodeWavPack(bytes: Uint8Array, name: string): DecodedSample {
  let wav: Buffer;
  try {
    wav = execFileSync("wvunpack", ["-q", "-y", "-", "-o", "-"], {
      input: bytes,
      maxBuffer: 1 << 28,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new DataError(
        `${name}: cannot decode WavPack: wvunpack not found; install the Debian package wavpack (sudo apt-get install wavpack, or run scripts/setup.sh)`,
      );
    }
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new DataError(`${name}: wvunpack failed (${stderr || (error as Error).message})`, { cause: error });
  }
  const decoded = decodeWav(wav, name);
  return { ...decoded, ...(readSmplChunk(wav) ?? {}) };
}
