/**
 * The onnxruntime-node backend of a Separator (`backend: "onnx"`): the model folder's joint model
 * as the ONNX graph of src/export (BatchNorm folded, eval mode), run by onnxruntime's CPU kernels.
 * It uses `<dir>/model.onnx` when `stemscope export` wrote it from the folder as it is now, else it
 * exports the folder in memory first (loading the weights once with the engine).
 * Same contract as the libtorch runner (see runner.ts); `bf16` is not available and runs in float32.
 */
import * as ort from "onnxruntime-node";
import { getNumThreads } from "../engine/index.js";
import { modelFolderOnnx, ONNX_NAMES, readOnnxModelInfo } from "../export/index.js";
import type { ModelFolderConfig } from "../model/folder.js";
import { InferenceError } from "./errors.js";
import type { ForwardOptions, ModelOutputs, ModelRunner } from "./runner.js";

export class OnnxRunner implements ModelRunner {
  readonly backend = "onnx";

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly rows: number,
    private readonly cols: number,
  ) {}

  async forward(features: Float32Array, batch: number, options: ForwardOptions): Promise<ModelOutputs> {
    const input = new ort.Tensor("float32", features, [batch, 1, this.rows, this.cols]);
    const fetches = options.planes ? [ONNX_NAMES.logits, ONNX_NAMES.separated] : [ONNX_NAMES.logits];
    const out = await this.session.run({ [ONNX_NAMES.input]: input }, fetches);
    return {
      logits: out[ONNX_NAMES.logits]!.data as Float32Array,
      planes: options.planes ? (out[ONNX_NAMES.separated]!.data as Float32Array) : null,
    };
  }

  dispose(): void {
    void this.session.release();
  }
}

/**
 * Loads a model folder into onnxruntime-node with the engine's thread count (`setNumThreads`).
 * @throws InferenceError when the exported graph does not match the folder's config (it should
 *   always match; this guards against a stale or foreign model.onnx)
 */
export async function loadOnnxRunner(dir: string, config: ModelFolderConfig): Promise<OnnxRunner> {
  const { bytes } = await modelFolderOnnx(dir);
  const info = readOnnxModelInfo(bytes, dir);
  if (info.classes.join("\n") !== config.classes.join("\n") || info.sources !== config.model.sources) {
    throw new InferenceError(`${dir}: the ONNX model's classes or sources differ from config.json`);
  }
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: getNumThreads(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  return new OnnxRunner(session, config.features.nMels, config.features.size);
}
