// ONNX export of a model folder, and the description an exported file carries.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModelFolder } from "../model/index.js";
import { writeFileAtomic } from "../util/atomic.js";
import { exportJointModel } from "./onnx.js";

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

/** stemscope's version (package.json), written into exported files as producer_version. */
export function packageVersion(): string {
  // src/export/ and dist/export/ both sit two folders below the package root.
  const path = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "package.json");
  return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
}

/**
 * A model folder (config.json + weights) as ONNX bytes, see {@link exportJointModel}.
 * @param options.opset ONNX opset (default 17)
 * @throws ModelFolderError / SafetensorsError for an unusable folder, OnnxExportError for a bad opset
 */
export async function exportModelFolder(dir: string, options: { opset?: number } = {}): Promise<Uint8Array> {
  const loaded = await loadModelFolder(dir);
  try {
    return exportJointModel(loaded.model, {
      classes: loaded.classes,
      features: loaded.features,
      producerVersion: packageVersion(),
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
