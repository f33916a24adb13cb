// Training: the seed's 02.py trainer, faithful and then better (see trainer.ts).
export { type TrainConfig, type TrainConfigInput, TrainConfigSchema } from "./config.js";
export {
  type DistributedSettings,
  type DistributedSettingsInput,
  DistributedSettingsSchema,
} from "./distributed.js";
export {
  type EpochRecord,
  formatEpochLine,
  train,
  TrainError,
  type TrainInput,
  type TrainOptions,
  type TrainProgress,
  type TrainSummary,
} from "./trainer.js";
export {
  type DataSplit,
  labelIndices,
  readTrainData,
  type SampleRef,
  splitTrainData,
  type TrainData,
} from "../data/dataset/dataset.js";
export {
  BatchLoader,
  buildFeatureCache,
  type FeatureBatch,
  type FeatureStore,
} from "../data/dataset/cache.js";
