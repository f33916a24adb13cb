// ONNX export of a model folder, and the description an exported file carries.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadModelFolder, MODEL_FILES, readModelConfig } from "../model/index.js";
import { writeFileAtomic } from "../util/atomic.js";
import { packageVersion } from "../version.js";
import { readOnnxModelInfo } from "./metadata.js";
import { exportJointModel, OPSET_RANGE } from "./onnx.js";

export { type AttributeValue, GraphBuilder, irVersionFor, type ValueInfo } from "./graph.js";
export {
  metadataEntries,
  ONNX_EXPORT_VERSION,
  ONNX_NAMES,
  OnnxModelError,
  type OnnxModelInfo,
  readOnnxModelInfo,
} from "./metadata.js";
export { exportJointModel, OnnxExportError, type OnnxExportOptions, OPSET_RANGE } from "./onnx.js";

/** The file `stemscope export` writes into a model folder by default, and the ONNX backend looks for. */
export const ONNX_FILE = "model.onnx";

/**
 * SHA-256 (hex) of what an export of the folder depends on: its weights file and the parts of
 * config.json that define the model (architecture, feature settings, class names).
 */
export async function modelFolderFingerprint(dir: string): Promise<string> {
  const config = readModelConfig(dir);
  const hash = createHash("sha256");
  hash.update(await readFile(join(dir, MODEL_FILES.weights)));
  hash.update(JSON.stringify({ model: config.model, features: config.features, classes: config.classes }));
  return hash.digest("hex");
}

/**
 * A model folder (config.json + weights) as ONNX bytes, see {@link exportJointModel}.
 * @param options.opset ONNX opset (default 17)
 * @throws ModelFolderError / SafetensorsError for an unusable folder, ParameterError for a bad `opset`
 */
export async function exportModelFolder(dir: string, options: { opset?: number } = {}): Promise<Uint8Array> {
  const source = await modelFolderFingerprint(dir);
  const loaded = await loadModelFolder(dir);
  try {
    return exportJointModel(loaded.model, {
      classes: loaded.classes,
      features: loaded.features,
      producerVersion: packageVersion(),
      source,
      ...(options.opset === undefined ? {} : { opset: options.opset }),
    });
  } finally {
    loaded.model.dispose();
  }
}

/**
 * Exports a model folder to an ONNX file, written atomically (temp name, then rename).
 * @returns the bytes written
 */
export async function exportModelFolderToFile(
  dir: string,
  out: string,
  options: { opset?: number } = {},
): Promise<Uint8Array> {
  const bytes = await exportModelFolder(dir, options);
  await writeFileAtomic(out, bytes);
  return bytes;
}

/**
 * The folder's model as ONNX: `<dir>/model.onnx` when it was exported from the folder as it is now
 * (same fingerprint), else a fresh export in memory (which loads the weights with the engine).
 * @returns the bytes and whether they came from the file
 */
export async function modelFolderOnnx(dir: string): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const file = join(dir, ONNX_FILE);
  if (existsSync(file)) {
    const bytes = await readFile(file);
    let source: string | null = null;
    try {
      source = readOnnxModelInfo(bytes, file).source;
    } catch {
      // Not a usable export (e.g. an older format): export afresh below.
    }
    if (source !== null && source === (await modelFolderFingerprint(dir))) return { bytes, cached: true };
  }
  return { bytes: await exportModelFolder(dir, { opset: OPSET_RANGE.default }), cached: false };
}
