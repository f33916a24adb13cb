import { readFile } from "node:fs/promises";
import { StemscopeError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { type DType, type Tensor, tensor } from "./tensor.js";

/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`
 * (padded with spaces to a multiple of 8), then the raw little-endian row-major data. Python's
 * `safetensors.torch.load_file` reads what we write and we read what it writes.
 */
export class SafetensorsError extends StemscopeError {}

const TO_CODE: Record<DType, string> = {
  float32: "F32",
  float64: "F64",
  bfloat16: "BF16",
  float16: "F16",
  int64: "I64",
  int32: "I32",
  uint8: "U8",
  bool: "BOOL",
};
const FROM_CODE = new Map<string, DType>(Object.entries(TO_CODE).map(([d, c]) => [c, d as DType]));

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Serialises named tensors (any device, any memory format) to safetensors bytes. */
export function encodeSafetensors(
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = new Uint8Array(t.data().buffer);
    header[name] = {
      dtype: TO_CODE[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes.byteLength],
    };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}

/** Parses safetensors bytes into CPU tensors; `source` names the file in error messages. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "<bytes>",
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new SafetensorsError(`${source}: not a valid safetensors file: ${problem}`);
  };
  if (bytes.byteLength < 8) fail(`only ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) fail(`header length ${headerLength} exceeds the file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString("utf8"));
  } catch {
    return fail("the JSON header does not parse");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    fail("the JSON header is not an object");
  const isObject = (v: unknown): boolean => v !== null && typeof v === "object" && !Array.isArray(v);
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  try {
    for (const [name, value] of Object.entries(header)) {
      if (name === "__metadata__") {
        metadata = value as Record<string, string>;
        continue;
      }
      if (!isObject(value)) fail(`tensor '${name}' is not an object`);
      const entry = value as Partial<HeaderEntry>;
      const dtype = FROM_CODE.get(String(entry.dtype));
      if (dtype === undefined) fail(`tensor '${name}' has unsupported dtype ${String(entry.dtype)}`);
      const shapeOk = Array.isArray(entry.shape) && entry.shape.every((d) => Number.isInteger(d) && d >= 0);
      const offsets = entry.data_offsets as unknown;
      if (!shapeOk || !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(Number.isInteger)) {
        fail(`tensor '${name}' lacks a valid shape or data_offsets`);
      }
      const [begin, end] = entry.data_offsets as [number, number];
      const count = (entry.shape as number[]).reduce((a, b) => a * b, 1);
      const elementBytes = {
        float32: 4,
        float64: 8,
        bfloat16: 2,
        float16: 2,
        int64: 8,
        int32: 4,
        uint8: 1,
        bool: 1,
      }[dtype!];
      if (end - begin !== count * elementBytes || dataStart + end > bytes.byteLength || begin < 0) {
        fail(`tensor '${name}' has data_offsets [${begin}, ${end}] that do not fit its shape or the file`);
      }
      // Copy into a fresh, aligned buffer: typed arrays need their element alignment.
      const raw = new Uint8Array(end - begin);
      raw.set(bytes.subarray(dataStart + begin, dataStart + end));
      const data =
        dtype === "float32"
          ? new Float32Array(raw.buffer)
          : dtype === "float64"
            ? new Float64Array(raw.buffer)
            : dtype === "int64"
              ? new BigInt64Array(raw.buffer)
              : dtype === "int32"
                ? new Int32Array(raw.buffer)
                : dtype === "bfloat16" || dtype === "float16"
                  ? new Uint16Array(raw.buffer)
                  : raw;
      tensors.set(name, tensor(data, entry.shape as number[], { dtype: dtype! }));
    }
  } catch (error) {
    // Free the tensors decoded before the faulty entry.
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return { tensors, metadata };
}

/** Writes tensors to `path` atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Reads a safetensors file into CPU tensors (the caller owns and disposes them). */
export async function loadSafetensors(
  path: string,
): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SafetensorsError(
      code === "ENOENT" ? `${path}: no such weights file` : `${path}: cannot read (${code ?? String(error)})`,
      { cause: error },
    );
  }
  return decodeSafetensors(bytes, path);
}
