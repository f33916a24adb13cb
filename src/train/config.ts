import { z } from "zod";
import { CLIP_STORAGES } from "../data/mix/remix.js";
import { PRESET_NAMES, type PresetName } from "../model/presets.js";

/**
 * Training settings. The defaults (here and nowhere else) are the seed's 02.py: batch 64, 30 epochs,
 * Adam(lr 0.0015, weight_decay 1e-4, L2 as torch.optim.Adam), ReduceLROnPlateau(mode min, patience 2,
 * factor 0.5), loss 0.7·ΣMSE + 0.3·ΣCE, an 8:2 train/test split, the `seed` architecture and features.
 */
export const TrainConfigSchema = z
  .object({
    /**
     * A train_data folder (labels.txt, sample_<i>/…, optionally split.json and mix.json: fixed
     * mixtures, features cached), or a raw_data clip library (one folder of .wav clips per class, as
     * `stemscope synth` writes it: mixtures drawn afresh every step, see src/train/feed.ts).
     */
    data: z.string().min(1),
    /** The model folder to write, e.g. `runs/<name>` (the seed wrote `logs/m2.pth`). */
    out: z.string().min(1),
    /** Architecture preset (see src/model/presets.ts). */
    preset: z.enum(PRESET_NAMES as [PresetName, ...PresetName[]]).default("seed"),
    /**
     * Feature mode (FeatureConfig `mode`): the seed's min-max mel image, or the invertible
     * mixture-relative `native` one. A resumed run keeps its model folder's.
     */
    features: z.enum(["seed", "native"]).default("seed"),
    /** Samples per step on each rank (a step sees worldSize × batchSize samples). */
    batchSize: z.number().int().min(1).default(64),
    /**
     * Ranks that train together, data-parallel (see distributed.ts); each takes its share of every
     * epoch. A resumed run needs the same number.
     */
    worldSize: z.number().int().min(1).default(1),
    epochs: z.number().int().min(1).default(30),
    /** Adam learning rate. */
    lr: z.number().positive().default(0.0015),
    /**
     * `adam` (the seed's): `weightDecay` is an L2 penalty added to the gradient, as torch.optim.Adam.
     * `adamw`: decoupled decay, param ← param·(1 − lr·weightDecay), as torch.optim.AdamW (whose
     * default decay is 0.01: set `weightDecay` with it).
     */
    optimizer: z.enum(["adam", "adamw"]).default("adam"),
    /** Adam's L2 penalty or AdamW's decoupled decay (see `optimizer`). */
    weightDecay: z.number().min(0).default(1e-4),
    /**
     * Learning-rate schedule. `plateau` (the seed's): ReduceLROnPlateau on the validation loss.
     * `cosine`: linear warm-up over `warmup` of all steps to `lr`, then cosine decay to 0 at the last
     * step of the last epoch; better when the time budget (epochs) is fixed in advance.
     */
    schedule: z.enum(["plateau", "cosine"]).default("plateau"),
    /** Fraction of all steps spent warming up (`cosine` only). */
    warmup: z.number().min(0).lt(1).default(0.05),
    /**
     * U-Net output override (the preset's own choice when absent): `direct`, `mask` (sigmoid mask ×
     * mixture) or `ratio` (softmax ratio masks on the mixture's mel power; `native` features only,
     * the U-Net takes the features' `topDb`). See UNetConfigSchema.
     */
    unetOutput: z.enum(["direct", "mask", "ratio"]).optional(),
    /** U-Net skip override: `pooled` (the seed's) or `full` (a standard U-Net; see UNetConfigSchema). */
    unetSkips: z.enum(["pooled", "full"]).optional(),
    /** Classifier input override: `source` (the seed's) or `source+mixture` (see JointModelConfigSchema). */
    classifierInput: z.enum(["source", "source+mixture"]).optional(),
    /** U-Net width override: channels of its first level (each level doubles them; `fast` 16, seed 64). */
    unetChannels: z.number().int().min(1).max(256).optional(),
    /** ResNet width override: channels of its stem and first stage (each stage doubles them; `fast` 16, seed 64). */
    resnetWidth: z.number().int().min(1).max(256).optional(),
    /** ResNet dropout override: the share of its pooled features dropped before the head (`fast` 0). */
    resnetDropout: z.number().min(0).lt(1).optional(),
    /** ReduceLROnPlateau on the validation loss. */
    plateauPatience: z.number().int().min(0).default(2),
    plateauFactor: z.number().gt(0).lt(1).default(0.5),
    /** λ in λ·L_sep + (1 − λ)·L_cls. */
    lossWeight: z.number().min(0).max(1).default(0.7),
    /**
     * Spectrogram augmentation of training batches (random EQ, mel shift, SpecAugment masks, the same
     * on a sample's mixture and sources; see src/train/augment.ts), for timbres the data lacks.
     */
    augment: z.boolean().default(false),
    /**
     * β: the classifier is also trained on the reference source spectrograms, adding
     * β·Σ_k CE(classifier(source_k), label_k) to L_cls (training steps only). Anchors the shared
     * classifier to real instrument spectrograms, so its gradient asks the U-Net for separated
     * sources that sound like the instrument, instead of co-adapting with the U-Net's output.
     * 0 = the seed's loss.
     */
    referenceWeight: z.number().min(0).default(0),
    /**
     * Augment only what the classifier's reference term sees (needs `referenceWeight` > 0): each
     * training sample's reference sources (and mixture, for `source+mixture`) get REFERENCE_AUGMENT's
     * random EQ, mel shift and masks (src/train/augment.ts); the U-Net and the classification of its
     * separated sources see the sample as it is.
     */
    augmentReferences: z.boolean().default(false),
    /**
     * ε of label smoothing in every classification term (as torch's `label_smoothing`): the target is
     * (1 − ε)·one-hot + ε/C. 0: the seed's plain cross entropy.
     */
    labelSmoothing: z.number().min(0).lt(1).default(0),
    /**
     * L_sep: `mse` (the seed's: squared error of the feature values) or `shares` (native features only:
     * the error of each source's share of every mel cell — what the resynthesis turns into masks —
     * weighted by the mixture's magnitude; see sharesLoss in src/model/joint.ts).
     */
    separationLoss: z.enum(["mse", "shares"]).default("mse"),
    /** Permutation-invariant training: each sample's source order is the one with the least separation loss. */
    pit: z.boolean().default(false),
    /**
     * bfloat16 CPU autocast for the forward pass: on, off, or "auto" — time the run's first training
     * steps in both on this machine and train on in bf16 only where it is clearly faster (see
     * PrecisionTrial in src/model/precision.ts). The choice is recorded and kept on resume.
     */
    bf16: z.union([z.boolean(), z.literal("auto")]).default(false),
    /** libtorch intra-op threads (default: the machine's cores). */
    threads: z.number().int().min(1).optional(),
    /** Fixes initialisation, shuffling and dropout. */
    seed: z.number().int().default(0),
    /** Stop after this many epochs without a better validation accuracy (off when absent). */
    earlyStop: z.number().int().min(1).optional(),
    /**
     * `auto`: split.json of the data folder when present, else a seeded per-sample split;
     * `random`: the seed's per-sample random split even when split.json exists (leaky: the same
     * source clips end up on both sides).
     */
    split: z.enum(["auto", "random"]).default("auto"),
    /** Test fraction of a per-sample split (split.json decides otherwise), or of each class's clips (clip library). */
    testFraction: z.number().gt(0).lt(1).default(0.2),
    /** Continue the run in `out` from its checkpoint. */
    resume: z.boolean().default(false),
    /** Feature cache folder (default `<data>/.stemscope-cache`; the user cache folder when the data folder is read-only). */
    cacheDir: z.string().min(1).optional(),
    /** Worker threads that compute missing cache entries (default: the machine's cores). */
    cacheJobs: z.number().int().min(1).optional(),
    /** Clip library only: sources per drawn mixture (a train_data folder has its own). */
    sources: z.number().int().min(2).max(16).default(2),
    /** Clip library only: mixtures drawn per epoch (over all ranks). */
    mixtures: z.number().int().min(1).default(8192),
    /** Clip library only: mixtures of the fixed validation set (drawn from the validation clips). */
    valMixtures: z.number().int().min(1).default(1024),
    /** Clip library only: level of sources 2…K relative to source 1, dB, uniform in [min, max]. */
    gainDb: z
      .tuple([z.number().min(-60).max(60), z.number().min(-60).max(60)])
      .refine(([lo, hi]) => lo <= hi, { message: "gainDb: min must be ≤ max" })
      .default([-6, 6]),
    /**
     * Clip library only: source groups of its manifest (e.g. `a320u`) left out of training and
     * validation, to measure how the model does on timbres it never heard.
     */
    holdOut: z.array(z.string().min(1)).default([]),
    /**
     * Clip library only: `memory` holds every clip decoded (2 bytes a sample, ~6 GiB for 48,000 4-s
     * clips at 16 kHz); `disk` reads each drawn clip from its file again (memory no longer grows with
     * the library). The same mixtures either way; a resumed run may change it.
     */
    clipStorage: z.enum(CLIP_STORAGES).default("memory"),
    /** Stop after this many optimizer steps in total (benchmarks, memory runs); absent = no limit. */
    maxSteps: z.number().int().min(1).optional(),
  })
  .strict();

/** Input of {@link TrainConfigSchema}: `data` and `out` required, everything else optional. */
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;
/** A complete training configuration (defaults filled in). */
export type TrainConfig = z.output<typeof TrainConfigSchema>;
