/**
 * A minimal PNG encoder (8-bit greyscale, no interlace, zlib via node:zlib) for viewing spectrograms.
 */
import { deflateSync } from "node:zlib";
import { writeFileAtomic } from "../util/atomic.js";
import { FeatureError } from "./errors.js";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as used by PNG (and zlib's crc32). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++)
    c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes a greyscale image as PNG.
 * @param pixels row-major [height, width], one byte per pixel (0 black … 255 white), top row first
 */
export function encodePngGray(pixels: Uint8Array, width: number, height: number): Uint8Array {
  if (pixels.length !== width * height || width < 1 || height < 1) {
    throw new FeatureError(`encodePngGray: ${pixels.length} pixels do not make a ${width}×${height} image`);
  }
  const raw = new Uint8Array(height * (width + 1)); // filter byte 0 (None) before each row
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A spectrogram [rows, cols] with values in [0, 1] (rows = mel bands low → high) as a PNG with low
 * frequencies at the bottom, like a usual spectrogram plot. Values outside [0, 1] are clipped.
 */
export function spectrogramToPng(values: Float32Array, rows: number, cols: number): Uint8Array {
  const pixels = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const y = rows - 1 - r;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c] as number;
      pixels[y * cols + c] = Math.round(255 * (v > 1 ? 1 : v > 0 ? v : 0));
    }
  }
  return encodePngGray(pixels, cols, rows);
}

/** Writes {@link spectrogramToPng} to `path` atomically. */
export async function writeSpectrogramPng(
  path: string,
  values: Float32Array,
  rows: number,
  cols: number,
): Promise<void> {
  await writeFileAtomic(path, spectrogramToPng(values, rows, cols));
}
