/**
 * NumPy .npy files (format version 1.0) for float32 arrays: `<f4`, C order. Writes exactly what
 * `numpy.save` writes (header padded with spaces to a multiple of 64 bytes, ending in '\n'), and
 * reads back any version 1.0/2.0 `<f4` C-order file.
 */
import { writeFileAtomic } from "../util/atomic.js";
import { FeatureError } from "./errors.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Encodes a float32 array as .npy bytes.
 * @param data values in C (row-major) order; its length must equal the product of `shape`
 * @param shape e.g. [128, 128]
 */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new FeatureError(
      `encodeNpy: shape [${shape.join(", ")}] holds ${count} values, data has ${data.length}`,
    );
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic(6) + version(2) + header length(2) + header, padded with spaces, ending in '\n', to 64 bytes
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  if (header.length > 65535) throw new FeatureError("encodeNpy: header too long for format version 1.0");
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const base = 10 + header.length;
  for (let i = 0; i < data.length; i++) view.setFloat32(base + 4 * i, data[i] as number, true);
  return out;
}

/**
 * Decodes a `<f4`, C-order .npy file.
 * @param sourceName used in error messages
 * @returns the values (row-major) and the shape
 */
export function decodeNpy(
  bytes: Uint8Array,
  sourceName = "array.npy",
): { data: Float32Array; shape: number[] } {
  const fail = (problem: string): never => {
    throw new FeatureError(`${sourceName}: ${problem}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail("not a .npy file (bad magic)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6] as number;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) fail("truncated .npy header");
  const header = String.fromCharCode(...bytes.subarray(start, start + headerLen));
  if (!/'descr':\s*'<f4'/.test(header)) fail(`unsupported dtype in header ${header.trim()} (expected '<f4')`);
  if (!/'fortran_order':\s*False/.test(header)) fail("Fortran-order arrays are not supported");
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (m === null) return fail("no shape in .npy header");
  const shape = (m[1] as string)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const base = start + headerLen;
  if (base + 4 * count > bytes.length)
    fail(`truncated .npy data: need ${4 * count} bytes, have ${bytes.length - base}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(base + 4 * i, true);
  return { data, shape };
}

/** Writes a float32 array as .npy, atomically. */
export async function writeNpy(path: string, data: Float32Array, shape: number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}
