// Spectrogram features: the seed paper's librosa + skimage pipeline (`seed` mode), a resize-free
// invertible `native` mode (turned back into audio by the separator's masks, src/separator/masks.ts),
// and the DSP pieces they are built from (STFT/iSTFT, mel filterbank and its pseudo-inverse, dB
// conversions).
export { FeatureError } from "./errors.js";
export { FeatureConfigSchema, type FeatureConfig } from "./config.js";
export { ComplexFft, RealFft } from "./fft.js";
export { type ComplexSpectrogram, type StftOptions, frameCount, hannWindow, istft, stft } from "./stft.js";
export {
  type MelOptions,
  type SparseMel,
  hzToMel,
  melFilterbank,
  melFrequencies,
  melPseudoInverse,
  melToHz,
  sparseMelFilterbank,
} from "./mel.js";
export { type PowerToDbOptions, dbToPower, powerToDb } from "./db.js";
export { type LinearTaps, linearTaps, resizeBilinear } from "./resize.js";
export {
  AMIN,
  type FeatureBatchOptions,
  FeatureExtractor,
  type NativeFeatures,
  type NativeScale,
  clipLength,
  computeFeatures,
  computeFeaturesBatch,
  effectiveHop,
  getExtractor,
  nativeFeatures,
  nativeToMelPower,
  resolveFeatureConfig,
  type SampleFeatures,
  sampleFeaturesBatch,
  seedFeatures,
} from "./pipeline.js";
export { FeatureWorkerPool, type FeaturePoolOptions, computeFeaturesParallel } from "./pool.js";
export {
  type FeatureKernelBinding,
  type FeaturePlanSpec,
  type KernelBatchOptions,
  type KernelFeaturesOptions,
  type KernelIsa,
  type NativeFeaturePlan,
  featureKernel,
  featureKernelStatus,
  kernelFeaturesBatch,
  kernelFeaturesBatchAsync,
} from "./native-kernel.js";
export { decodeNpy, encodeNpy, writeNpy } from "./npy.js";
export { crc32, encodePngGray, spectrogramToPng, writeSpectrogramPng } from "./png.js";
