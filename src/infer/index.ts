// Inference: sliding-window instrument prediction and source separation with a trained model folder.
export {
  InferenceError,
  type InferenceOptions,
  InferenceOptionsSchema,
  type InferenceSettings,
  loadModel,
  NO_INSTRUMENT_STEM,
  type NoInstrument,
  type Prediction,
  type SeparateOptions,
  SeparateOptionsSchema,
  type SeparateSettings,
  type Separation,
  type Stem,
  StemscopeModel,
  type StemLayout,
  type StemSink,
  type WindowPrediction,
} from "./model.js";
export { defaultModelDir, resolveModelDir } from "../separator/separator.js";
export { audibleDb, INFRASONIC_HZ } from "./level.js";
export { crossfadeWeights, OverlapAdd } from "./overlap-add.js";
export { formatPrediction, predictionRecord, timelinePng } from "./output.js";
export {
  removeStalePartials,
  trackName,
  separateToFolder,
  StemFolderWriter,
  writeSeparation,
  type WriteStemsOptions,
  WriteStemsOptionsSchema,
} from "./stems.js";
export {
  planWindows,
  rmsDb,
  summarise,
  type SummaryMode,
  type WindowPlan,
  windowSamples,
} from "./windows.js";
