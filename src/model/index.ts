export {
  JointModel,
  type JointLoss,
  jointLoss,
  sharesLoss,
  shareTerms,
  type JointModelConfig,
  JointModelConfigSchema,
  type JointOutput,
  type LossTargets,
  type LossWeights,
} from "./joint.js";
export { foldBatchNorm } from "./fold.js";
export { PRESET_NAMES, type PresetName, PRESETS, presetConfig, presetName } from "./presets.js";
export { ResNet, type ResNetConfig, ResNetConfigSchema } from "./resnet.js";
export { ratioOutput, UNet, type UNetConfig, UNetConfigSchema } from "./unet.js";
export {
  type EpochRecord,
  holdsTrainingRun,
  type LoadedModelFolder,
  loadModelFolder,
  migrateV1,
  MODEL_FILES,
  MODEL_FORMAT_VERSION,
  type ModelFolderConfig,
  ModelFolderConfigSchema,
  ModelFolderError,
  READABLE_FORMAT_VERSIONS,
  readModelConfig,
  readTrainLog,
  type TrainingRecord,
  TrainingRecordSchema,
  type TrainLogRecord,
  TrainLogRecordSchema,
  type TrainMetrics,
  writeModelConfig,
  writeTrainLog,
  writeTrainMetrics,
  writeWeights,
} from "./folder.js";
export {
  type Checkpoint,
  type CheckpointState,
  disposeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from "./checkpoint.js";
export {
  BF16_MIN_SPEEDUP,
  pairedSpeedup,
  type PrecisionChoice,
  PrecisionTrial,
  trainingRate,
  unmeasuredPrecision,
} from "./precision.js";
