// Inference: sliding-window instrument prediction and source separation with a trained model folder.
export {
  defaultModelDir,
  InferenceError,
  type InferenceOptions,
  loadModel,
  type Prediction,
  type Separation,
  type Stem,
  StemscopeModel,
  type WindowPrediction,
} from "./model.js";
export { crossfadeWeights, linearMasks, melShares, OverlapAdd, separateClip } from "./masks.js";
export { formatPrediction, predictionRecord, timelinePng } from "./output.js";
export { trackName, writeSeparation, type WriteStemsOptions } from "./stems.js";
export {
  planWindows,
  rmsDb,
  summarise,
  type SummaryMode,
  type WindowPlan,
  windowSamples,
} from "./windows.js";
