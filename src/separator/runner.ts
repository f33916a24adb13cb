/**
 * The model behind a Separator, as a pluggable backend. A {@link ModelRunner} maps a batch of model
 * inputs to the joint model's two outputs; everything around it (features, naming, stems, batching)
 * is the Separator's, so a new backend (e.g. onnxruntime-node for `--backend onnx`) implements only
 * this interface and registers a factory in {@link BACKENDS}.
 *
 * The contract (all arrays float32, row-major / NCHW, batch first):
 * - input `features` [batch, 1, nMels, size]: the featurizer's model input, values in [0, 1];
 * - output `logits` [batch, K, classes]: class scores of each separated source, before softmax;
 * - output `planes` [batch, K, nMels, size]: the separated spectrograms, in the feature domain —
 *   returned when asked for (`planes: true`); a backend may always return them;
 * - the model is in inference mode (dropout off, batch-norm running statistics), batch ≥ 1 of any size;
 * - `bf16: true` asks for bfloat16 arithmetic where the backend has it (results differ from float32 in
 *   the 2nd–3rd digit); a backend without it computes in float32;
 * - `forward` must not keep `features` after its promise resolves; results belong to the caller.
 */
import { noGrad, tensor, tidy, withAutocast } from "../engine/index.js";
import { foldBatchNorm } from "../model/fold.js";
import { type ModelFolderConfig, loadModelFolder } from "../model/folder.js";
import type { JointModel } from "../model/joint.js";

/** What {@link ModelRunner.forward} returns for a batch. */
export interface ModelOutputs {
  /** [batch, K, classes]. */
  logits: Float32Array;
  /** [batch, K, nMels, size], or null when not asked for. */
  planes: Float32Array | null;
}

/** Options of one {@link ModelRunner.forward} call. */
export interface ForwardOptions {
  /** Return the separated planes too (separation and eval need them; naming does not). */
  planes: boolean;
  /** bfloat16 arithmetic where the backend has it. */
  bf16: boolean;
}

/** A backend that runs a model folder's joint model. */
export interface ModelRunner {
  /** The backend's name (a key of {@link BACKENDS}). */
  readonly backend: string;
  /**
   * Runs the model on a batch.
   * @param features [batch, 1, nMels, size] float32
   * @param batch the batch size (features.length / (nMels · size))
   */
  forward(features: Float32Array, batch: number, options: ForwardOptions): Promise<ModelOutputs>;
  /** Frees the model. The runner is unusable afterwards. */
  dispose(): void;
}

/** Makes a runner for a model folder whose config.json has been read and validated. */
export type RunnerFactory = (dir: string, config: ModelFolderConfig) => Promise<ModelRunner>;

/**
 * libtorch through our addon: the JointModel of the folder, channels-last, eval mode, no autograd,
 * its batch norms folded into the convolutions before them (src/model/fold.ts; the same outputs up to
 * float rounding, faster) — so the runner's model is for inference only.
 */
export class LibtorchRunner implements ModelRunner {
  readonly backend = "libtorch";

  constructor(
    /** The loaded model (owned by the runner). */
    readonly model: JointModel,
    private readonly rows: number,
    private readonly cols: number,
  ) {
    model.eval();
    foldBatchNorm(model);
  }

  async forward(features: Float32Array, batch: number, options: ForwardOptions): Promise<ModelOutputs> {
    return noGrad(() =>
      tidy(() => {
        const x = tensor(features, [batch, 1, this.rows, this.cols]).contiguous("channels_last");
        const y = options.bf16 ? withAutocast(() => this.model.forward(x)) : this.model.forward(x);
        return {
          logits: y.logits.float().contiguous().toFloat32Array(),
          planes: options.planes ? y.separated.float().contiguous().toFloat32Array() : null,
        };
      }),
    );
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The backends a Separator can load a model folder with, by name. */
export const BACKENDS: Record<string, RunnerFactory> = {
  libtorch: async (dir) => {
    const loaded = await loadModelFolder(dir);
    return new LibtorchRunner(loaded.model, loaded.features.nMels, loaded.features.size);
  },
  // onnxruntime-node on the folder's ONNX export; imported on first use (it is large to load).
  onnx: async (dir, config) => (await import("./onnx-runner.js")).loadOnnxRunner(dir, config),
};
