// Data: the files stages hand each other (formats/), rendering raw_data libraries from soundfonts, sample
// libraries and models (synth/), building train_data mixtures (mix/), reading and checking them (dataset/).
export { DataError } from "./errors.js";
export { type RawClass, listRawData } from "./formats/raw-data.js";
export {
  formatLabelLine,
  parseLabelLine,
  pyJoin,
  resolveSamplePath,
  sampleDirLabel,
  sampleFileNames,
  type LabelLine,
} from "./formats/labels.js";
export { MANIFEST_NAME, ManifestEntrySchema, type ManifestEntry, readManifest } from "./formats/manifest.js";
export { MixConfigSchema, type MixConfig, type MixConfigInput } from "./formats/mix-config.js";
export { RMS_REFERENCE, type MixTask, type RenderedMixture, renderMixture } from "./mix/render.js";
export {
  MIX_JSON_FORMAT,
  MIX_JSON_NAME,
  MIX_JSON_VERSION,
  type MixManifest,
  MixManifestSchema,
  readMixJson,
} from "./formats/mix-json.js";
export { SPLIT_JSON_NAME, type SplitFile, type SplitLists, readSplitJson } from "./formats/split-json.js";
export {
  type BuildMixturesOptions,
  type MixProgress,
  type MixResult,
  type PlannedSample,
  buildMixtures,
  combinations,
  planMixtures,
} from "./mix/mix.js";
export {
  type CheckIssue,
  type CheckOptions,
  type CheckReport,
  type ClassStats,
  type RawDataReport,
  type TrainDataReport,
  checkDataset,
} from "./dataset/check.js";
export {
  type DataSplit,
  readTrainData,
  type SampleRef,
  splitTrainData,
  type TrainData,
} from "./dataset/dataset.js";
export {
  DEFAULT_CLASSES,
  KNOWN_SOUNDFONTS,
  type InstrumentClass,
  type SoundfontInfo,
  type SoundfontRef,
  resolveClasses,
  resolveSoundfonts,
} from "./synth/instruments.js";
export { SynthConfigSchema, type SynthConfig, type SynthConfigInput } from "./synth/config.js";
export {
  type SynthProgress,
  type SynthResult,
  type SynthesizeOptions,
  synthInventory,
  synthesize,
} from "./synth/synth.js";
export {
  SOURCE_GROUPS,
  type SourceGroupInfo,
  type SourceRef,
  resolveSources,
} from "./synth/sources/groups.js";
export { type ClassInventory, formatInventory } from "./synth/sources/inventory.js";
