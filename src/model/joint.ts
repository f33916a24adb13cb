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

/** Input channels of the classifier: the source, and with `source+mixture` the mixture too. */
export function classifierChannels(config: Pick<JointModelConfig, "classifierInput">): number {
  return config.classifierInput === "source+mixture" ? 2 : 1;
}

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
    this.classifier = this.registerModule(
      "classifier",
      new ResNet({ ...config.resnet, inChannels: classifierChannels(config) }, config.numClasses),
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

  /**
   * The shared classifier on given source spectrograms (e.g. the reference sources): sources
   * [batch, K, H, W] run as one batch of batch·K → logits [batch, K, classes]. `mixture`
   * [batch, 1, H, W] is used when the classifier also sees the mixture.
   */
  classifySources(sources: Tensor, mixture: Tensor): Tensor {
    const [batch, k, h, w] = sources.shape as [number, number, number, number];
    const flat = sources.reshape([batch * k, 1, h, w]).contiguous("channels_last");
    // The mixture of sample b, once per source, in the same b·K + k order.
    const mixtures = mixture.expand([batch, k, h, w]).reshape([batch * k, 1, h, w]);
    return this.classifier
      .forward(this.classifierInput(flat, mixtures))
      .reshape([batch, k, this.config.numClasses]);
  }

  /** The classifier's input for one source [batch, 1, H, W]: itself, or with the mixture [batch, 2, H, W]. */
  classifierInput(source: Tensor, mixture: Tensor): Tensor {
    if (this.config.classifierInput === "source") return source;
    return cat([source, mixture.to(source.dtype)], 1).contiguous("channels_last");
  }
}

/** The weights of the loss terms; their defaults live in the training config (src/train/config.ts). */
export interface LossWeights {
  /** λ in λ·L_sep + (1 − λ)·L_cls, in [0, 1]. */
  lossWeight: number;
  /** β: weight of the classifier's loss on the reference sources inside L_cls (0: the seed's loss). */
  referenceWeight: number;
  /** ε of label smoothing in every cross entropy: targets (1 − ε)·one-hot + ε/C (default 0, the seed's). */
  labelSmoothing?: number;
  /**
   * L_sep: `mse` (the seed's) — Σ_k MSE(separated_k, source_k) on feature values; `shares` — the
   * error of the power shares the resynthesis turns into masks, weighted by the mixture's magnitude
   * (see {@link sharesLoss}; needs `topDb` and the mixture). Default `mse`.
   */
  separationLoss?: "mse" | "shares";
  /** `shares` only: the native features' dynamic range, dB. */
  topDb?: number;
}

/** What the model's outputs are scored against. */
export interface LossTargets {
  /** The reference source spectrograms [batch, K, H, W], float32. */
  sources: Tensor;
  /** The mixture spectrogram [batch, 1, H, W] (the `shares` separation loss weighs by it). */
  mixture?: Tensor;
  /** The class of each source, int64 [batch, K]. */
  labels: Tensor;
  /**
   * The classifier's logits on the reference sources [batch, K, classes]
   * ({@link JointModel.classifySources}); training passes them when β > 0, and only they add the β term.
   */
  referenceLogits?: Tensor;
}

export interface JointLoss {
  /** What training minimises: {@link total}, plus (1 − λ)·β·L_ref when reference logits were given. */
  objective: Tensor;
  /** The seed's loss λ·L_sep + (1 − λ)·L_cls, a scalar with autograd history (what is reported). */
  total: Tensor;
  /** L_sep = Σ_k MSE(separated_k, source_k), or the `shares` loss. */
  separation: Tensor;
  /** L_cls = Σ_k CE(logits_k, label_k). */
  classification: Tensor;
}

/**
 * Σ_k CE(logits_k, label_k) in float32: logits [batch, K, classes], labels int64 [batch, K], with
 * label smoothing ε. Since every source term has the same size, Σ_k of per-source means equals K × the
 * mean over all.
 */
function summedCrossEntropy(logits: Tensor, labels: Tensor, labelSmoothing = 0): Tensor {
  const [batch, k] = labels.shape as [number, number];
  const classes = logits.dim(2);
  return F.crossEntropy(logits.float().reshape([batch * k, classes]), labels.reshape([batch * k]), {
    labelSmoothing,
  }).mul(k);
}

/**
 * The `shares` separation loss, in native features (v = (dB + topDb) / topDb relative to the mixture's
 * peak): the resynthesis gives source k the share s_k = P_k / Σ_j P_j of every mel cell, with
 * P ∝ exp(a·v), a = topDb·ln 10 / 10 (src/separator/masks.ts; the features' floor at v = 0 is
 * −topDb dB, negligible in the sum) — so s = softmax_k(a·separated), and the reference shares
 * r = softmax_k(a·sources) are the ideal ratio masks. The loss is Σ_k of the squared share error
 * weighted by the mixture's magnitude |X| ∝ exp(a·(v_mix − 1) / 2) (normalised per sample), so loud
 * cells, which decide the SI-SDR of the stems, count most: L = K · mean_{b,k,f,t}(w·(s − r)²) with
 * w = |X| / mean_{f,t}|X| per sample. For the `ratio` output s equals its masks.
 * @param separated [batch, K, H, W]; targets.sources the same; targets.mixture [batch, 1, H, W]
 */
export function sharesLoss(separated: Tensor, targets: LossTargets, topDb: number | undefined): Tensor {
  const { shares, ideal, weight } = shareTerms(separated, targets, topDb, "sharesLoss");
  return shares.sub(ideal).square().mul(weight).mean().mul(targets.sources.dim(1));
}

/**
 * The terms of {@link sharesLoss}: the shares s [B, K, H, W] of the separated planes, the ideal shares
 * r of the references (the same shape), and the magnitude weight w [B, 1, H, W] (mean 1 per sample);
 * float32 (float64 stays, for gradient checks), even under bf16 autocast.
 * @param caller named in the error when the mixture or topDb is missing
 */
export function shareTerms(
  separated: Tensor,
  targets: Pick<LossTargets, "sources" | "mixture">,
  topDb: number | undefined,
  caller: string,
): { shares: Tensor; ideal: Tensor; weight: Tensor } {
  if (targets.mixture === undefined || topDb === undefined)
    throw new Error(`${caller}: needs the mixture features and topDb`);
  const a = (topDb * Math.LN10) / 10;
  const wide = (t: Tensor): Tensor => (t.dtype === "float64" ? t : t.float());
  const magnitude = wide(targets.mixture)
    .sub(1)
    .mul(a / 2)
    .exp();
  return {
    shares: F.softmax(wide(separated).mul(a), 1),
    ideal: F.softmax(wide(targets.sources).mul(a), 1),
    weight: magnitude.div(magnitude.mean([1, 2, 3], true)),
  };
}

/**
 * The training loss — the one formula: λ·Σ_k MSE(separated_k, source_k) + (1 − λ)·Σ_k CE(logits_k,
 * label_k) (the seed's), and for the objective (1 − λ)·β·Σ_k CE(classifier(source_k), label_k) on top
 * when reference logits are given. Computed in float32 even under autocast.
 */
export function jointLoss(output: JointOutput, targets: LossTargets, weights: LossWeights): JointLoss {
  const k = targets.labels.dim(1);
  const lambda = weights.lossWeight;
  const separation =
    weights.separationLoss === "shares"
      ? sharesLoss(output.separated, targets, weights.topDb)
      : F.mseLoss(output.separated.float(), targets.sources).mul(k);
  const classification = summedCrossEntropy(output.logits, targets.labels, weights.labelSmoothing);
  const total = separation.mul(lambda).add(classification.mul(1 - lambda));
  const reference =
    targets.referenceLogits !== undefined && weights.referenceWeight > 0
      ? summedCrossEntropy(targets.referenceLogits, targets.labels, weights.labelSmoothing).mul(
          (1 - lambda) * weights.referenceWeight,
        )
      : null;
  return { objective: reference === null ? total : total.add(reference), total, separation, classification };
}
