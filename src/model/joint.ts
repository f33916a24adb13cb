import { z } from "zod";
import { cat, F, Module, stack, type Tensor } from "../engine/index.js";
import { ResNet, ResNetConfigSchema } from "./resnet.js";
import { UNet, UNetConfigSchema } from "./unet.js";

/** Everything needed to rebuild a joint model (saved as `model` in a model folder's config.json). */
export const JointModelConfigSchema = z.object({
  /** The preset it was built from (informational; the arguments below are what counts). */
  preset: z.string().default("custom"),
  /** Number of sources the U-Net separates the mixture into (the seed: 2). */
  sources: z.number().int().min(2).default(2),
  /** Number of instrument classes the ResNet names. */
  numClasses: z.number().int().min(2),
  /**
   * What the shared classifier sees for source k: `source` (the seed) — the separated spectrogram
   * alone; `source+mixture` — the separated spectrogram and the mixture as two channels, so it can
   * name the source from the mixture's instruments, using the separated one to tell which it is.
   */
  classifierInput: z.enum(["source", "source+mixture"]).default("source"),
  unet: UNetConfigSchema.default(UNetConfigSchema.parse({})),
  resnet: ResNetConfigSchema.default(ResNetConfigSchema.parse({})),
});
export type JointModelConfig = z.infer<typeof JointModelConfigSchema>;

/** The model's outputs for a batch of mixtures. */
export interface JointOutput {
  /** Separated source spectrograms [batch, sources, H, W]. */
  separated: Tensor;
  /** Class logits of each separated source [batch, sources, numClasses]. */
  logits: Tensor;
}

/**
 * The seed's joint model: a U-Net separates the mixture spectrogram into K source spectrograms and one
 * ResNet (shared weights) classifies each of them. Trained end to end with {@link jointLoss}.
 */
export class JointModel extends Module {
  readonly unet: UNet;
  readonly classifier: ResNet;

  constructor(readonly config: JointModelConfig) {
    super();
    this.unet = this.registerModule("unet", new UNet(config.unet, config.sources));
    const inChannels = config.classifierInput === "source+mixture" ? 2 : 1;
    this.classifier = this.registerModule(
      "classifier",
      new ResNet({ ...config.resnet, inChannels }, config.numClasses),
    );
  }

  /** mixture [batch, 1, H, W] → separated [batch, K, H, W] and logits [batch, K, classes]. */
  forward(mixture: Tensor): JointOutput {
    const separated = this.unet.forward(mixture);
    // Each source goes through the classifier on its own, as in the seed (batch-norm statistics
    // are per source batch).
    const logits: Tensor[] = [];
    for (let k = 0; k < this.config.sources; k++) {
      logits.push(this.classifier.forward(this.classifierInput(separated.slice(1, k, k + 1), mixture)));
    }
    return { separated, logits: stack(logits, 1) };
  }

  /** The classifier's input for one source [batch, 1, H, W]: itself, or with the mixture [batch, 2, H, W]. */
  classifierInput(source: Tensor, mixture: Tensor): Tensor {
    if (this.config.classifierInput === "source") return source;
    return cat([source, mixture.to(source.dtype)], 1).contiguous("channels_last");
  }
}

export interface JointLoss {
  /** λ·L_sep + (1 − λ)·L_cls, a scalar with autograd history. */
  total: Tensor;
  /** Σ_k MSE(separated_k, source_k). */
  separation: Tensor;
  /** Σ_k CE(logits_k, label_k). */
  classification: Tensor;
}

/**
 * The seed's loss: λ·Σ_k MSE(separated_k, source_k) + (1 − λ)·Σ_k CE(logits_k, label_k).
 * sources: [batch, K, H, W] float32; labels: int64 [batch, K]. Computed in float32 even under autocast.
 * Since every source term has the same size, Σ_k of per-source means equals K × the mean over all.
 */
export function jointLoss(output: JointOutput, sources: Tensor, labels: Tensor, lambda = 0.7): JointLoss {
  const [batch, k] = labels.shape as [number, number];
  const separation = F.mseLoss(output.separated.float(), sources).mul(k);
  const classes = output.logits.dim(2);
  const classification = F.crossEntropy(
    output.logits.float().reshape([batch * k, classes]),
    labels.reshape([batch * k]),
  ).mul(k);
  const total = separation.mul(lambda).add(classification.mul(1 - lambda));
  return { total, separation, classification };
}

/**
 * Σ_k CE(classifier(source_k), label_k): the shared classifier applied to the reference sources
 * [batch, K, H, W] (one batch of batch·K spectrograms), labels int64 [batch, K]; mixture
 * [batch, 1, H, W] is used when the classifier also sees the mixture. A scalar in float32.
 */
export function referenceClassLoss(
  model: JointModel,
  sources: Tensor,
  labels: Tensor,
  mixture: Tensor,
): Tensor {
  const [batch, k, h, w] = sources.shape as [number, number, number, number];
  const flat = sources.reshape([batch * k, 1, h, w]).contiguous("channels_last");
  // The mixture of sample b, once per source, in the same b·K + k order.
  const mixtures = mixture.expand([batch, k, h, w]).reshape([batch * k, 1, h, w]);
  const logits = model.classifier.forward(model.classifierInput(flat, mixtures)).float();
  return F.crossEntropy(logits, labels.reshape([batch * k])).mul(k);
}
