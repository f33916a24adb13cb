/**
 * The featurizer: the feature domain of one model, chosen once from its config.json. Mixture clips
 * become model input, mixtures and their sources become training/eval targets, and the model's
 * separated planes become stems — all in the same mode (`seed` or `native`), so no caller decides it.
 */
import { getNumThreads } from "../engine/index.js";
import { type FeatureConfig } from "../features/config.js";
import {
  clipLength,
  computeFeaturesBatch,
  type SampleFeatures,
  sampleFeaturesBatch,
} from "../features/pipeline.js";
import { linearMasks, melShares, separateBatch, separateClip } from "./masks.js";

export class Featurizer {
  /** Samples per clip (seconds · sampleRate): what a model input covers. */
  readonly clipLength: number;
  /** Values per plane: nMels · size. */
  readonly cell: number;

  constructor(readonly config: FeatureConfig) {
    this.clipLength = clipLength(config);
    this.cell = config.nMels * config.size;
  }

  /**
   * Model input of clips: [batch, 1, nMels, size] row-major (each clip scaled on its own, as
   * mixtures are in training). By the native kernel with the engine's thread count when loaded.
   * @param clips mono audio at config.sampleRate, clipLength samples (longer are cut, shorter padded)
   */
  modelInput(clips: Float32Array[]): Float32Array {
    return computeFeaturesBatch(clips, this.config, { threads: getNumThreads() });
  }

  /**
   * Features of mixtures and their K sources, as the model was trained on them (the mixture planes
   * are the model input; the source planes its separation targets).
   */
  samples(mixtures: readonly Float32Array[], sources: readonly (readonly Float32Array[])[]): SampleFeatures {
    return sampleFeaturesBatch(mixtures, sources, this.config, { threads: getNumThreads() });
  }

  /**
   * Stems of one clip from the model's K separated planes: soft masks on the clip's STFT, inverted
   * with its phase (see masks.ts). The stems sum to the clip up to iSTFT round-off.
   * @param clip clipLength samples
   * @param planes K arrays [nMels, size]
   */
  stems(clip: Float32Array, planes: readonly Float32Array[]): Float32Array[] {
    return separateClip(clip, planes, this.config);
  }

  /**
   * {@link stems} of a batch of clips at once (the native kernel in `native` mode, with the engine's
   * thread count).
   * @param clips B clips of clipLength samples
   * @param planes [B, K, nMels, size] separated planes (e.g. BatchOutputs.planes)
   * @param sources K
   * @returns [B, K, clipLength] stems
   */
  stemsBatch(clips: readonly Float32Array[], planes: Float32Array, sources: number): Float32Array {
    return separateBatch(clips, planes, sources, this.config, getNumThreads());
  }

  /**
   * The model's soft masks for one clip: each source's share of the mixture on the clip's STFT
   * (see masks.ts), for carrying to the input's own rate and channels (full-rate.ts).
   * @param clip clipLength samples at the model's rate: the mono mixture the planes came from
   * @param planes K arrays [nMels, size]
   * @returns K masks [1 + nFft/2, frames] that sum to 1 at every bin and frame
   */
  masks(clip: Float32Array, planes: readonly Float32Array[]): Float32Array[] {
    return linearMasks(melShares(planes, clip, this.config), this.config);
  }
}
