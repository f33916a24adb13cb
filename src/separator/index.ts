// The separator layer, under train, eval and infer: a loaded model (featurizer, model runner, class
// names) with the one batched forward, the naming rules, the masks that turn planes into stems, and
// the one best-assignment helper (and PIT, which uses it).
export { bestAssignment, permutations } from "./assignment.js";
export {
  chooseNoneThreshold,
  type InstrumentProbability,
  matchedLabels,
  namedClasses,
  type NoneCalibration,
  type NoneRule,
  noneStatistic,
  playProbabilities,
  rankInstruments,
  rejectsAsNone,
  sameLabels,
  softmaxRows,
  sourceClasses,
  sourceEntropy,
} from "./naming.js";
export { applyPermutations, bestPermutations, pairwiseMse, permuteToSources } from "./pit.js";
export { InferenceError } from "./errors.js";
export { Featurizer } from "./featurizer.js";
export { FullRateSeparation, stftAtRate } from "./full-rate.js";
export { linearMasks, melShares, separateClip } from "./masks.js";
export {
  BACKENDS,
  type ForwardOptions,
  LibtorchRunner,
  type ModelOutputs,
  type ModelRunner,
  type RunnerFactory,
} from "./runner.js";
export {
  type AnalyseOptions,
  BatchOutputs,
  defaultModelDir,
  type LoadOptions,
  LoadOptionsSchema,
  loadSeparator,
  openModelFolder,
  resolveModelDir,
  Separator,
} from "./separator.js";
