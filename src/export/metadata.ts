/**
 * What a stemscope ONNX file says about itself: class names, feature settings and the model's
 * architecture, stored as ONNX `metadata_props`. This module is the one reader and writer of those
 * entries; it uses no Node API, so the web page reads models with it too.
 */
import onnxProto from "onnx-proto";
import { z } from "zod";
import { StemscopeError } from "../errors.js";
import { type FeatureConfig, FeatureConfigSchema } from "../features/config.js";

const { onnx } = onnxProto;

/** The metadata format this code writes and reads (bump when the entries change meaning). */
export const ONNX_EXPORT_VERSION = 1;

/** Graph input and output names of an exported model. */
export const ONNX_NAMES = {
  /** [batch, 1, nMels, size] float32 model input (features of one window each). */
  input: "features",
  /** [batch, K, nMels, size] float32 separated spectrograms. */
  separated: "separated",
  /** [batch, K, classes] float32 class logits of each separated source. */
  logits: "logits",
} as const;

const KEYS = {
  version: "stemscope.export_version",
  classes: "stemscope.classes",
  features: "stemscope.features",
  model: "stemscope.model",
  source: "stemscope.source_sha256",
} as const;

/** A file that is not a usable stemscope ONNX export; the message names it and what was expected. */
export class OnnxModelError extends StemscopeError {}

/** The model description carried by an exported file. */
export interface OnnxModelInfo {
  /** Class names; logit i is classes[i]. */
  classes: string[];
  /** The feature settings the model expects (the same as its model folder's). */
  features: FeatureConfig;
  /** Sources the model separates (K). */
  sources: number;
  /** The model folder's architecture config, as JSON (informational). */
  model: Record<string, unknown>;
  /**
   * SHA-256 (hex) of the model folder it was exported from (weights and config), or null when
   * unknown; a folder whose fingerprint still matches can use this file instead of exporting again.
   */
  source: string | null;
}

const ModelSummarySchema = z.looseObject({ sources: z.number().int().min(2) });

/** The `metadata_props` entries describing a model. */
export function metadataEntries(info: OnnxModelInfo): Record<string, string> {
  return {
    [KEYS.version]: String(ONNX_EXPORT_VERSION),
    [KEYS.classes]: JSON.stringify(info.classes),
    [KEYS.features]: JSON.stringify(info.features),
    [KEYS.model]: JSON.stringify({ ...info.model, sources: info.sources }),
    ...(info.source === null ? {} : { [KEYS.source]: info.source }),
  };
}

/**
 * Reads the description of an exported model from its ONNX bytes.
 * @param name the file's name for messages
 * @throws OnnxModelError when the bytes are not ONNX, or not a stemscope export of a version this
 *   code reads, or an entry does not validate (the message names the entry)
 */
export function readOnnxModelInfo(bytes: Uint8Array, name: string): OnnxModelInfo {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxModelError(`${name}: not an ONNX model (${(error as Error).message})`, { cause: error });
  }
  const graph = model.graph;
  if (graph === null || graph === undefined || (graph.node ?? []).length === 0) {
    throw new OnnxModelError(`${name}: not an ONNX model (no graph)`);
  }
  const props = new Map(model.metadataProps.map((p) => [p.key, p.value ?? ""]));
  const version = props.get(KEYS.version);
  if (version === undefined) {
    throw new OnnxModelError(
      `${name}: an ONNX model, but not one written by \`stemscope export\` (no ${KEYS.version} metadata)`,
    );
  }
  if (version !== String(ONNX_EXPORT_VERSION)) {
    throw new OnnxModelError(
      `${name}: ${KEYS.version} ${version} is not supported; this stemscope reads ${ONNX_EXPORT_VERSION}`,
    );
  }
  const inputs = (graph.input ?? []).map((v) => v.name ?? "");
  const outputs = (graph.output ?? []).map((v) => v.name ?? "");
  if (
    inputs[0] !== ONNX_NAMES.input ||
    !outputs.includes(ONNX_NAMES.separated) ||
    !outputs.includes(ONNX_NAMES.logits)
  ) {
    throw new OnnxModelError(
      `${name}: expected input "${ONNX_NAMES.input}" and outputs "${ONNX_NAMES.separated}", "${ONNX_NAMES.logits}"; the file has inputs [${inputs.join(", ")}] and outputs [${outputs.join(", ")}]`,
    );
  }
  const entry = <T>(key: string, schema: z.ZodType<T>): T => {
    const text = props.get(key);
    if (text === undefined) throw new OnnxModelError(`${name}: metadata ${key} is missing`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new OnnxModelError(`${name}: metadata ${key} is not valid JSON`, { cause: error });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new OnnxModelError(
        `${name}: metadata ${key}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
      );
    }
    return parsed.data;
  };
  const classes = entry(KEYS.classes, z.array(z.string().min(1)).min(2));
  const features = entry(KEYS.features, FeatureConfigSchema);
  const summary = entry(KEYS.model, ModelSummarySchema);
  return {
    classes,
    features,
    sources: summary.sources,
    model: summary,
    source: props.get(KEYS.source) ?? null,
  };
}
