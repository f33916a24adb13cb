// The separator layer, under train, eval and infer: the naming rules, the one best-assignment
// helper (and PIT, which uses it).
export { bestAssignment, permutations } from "./assignment.js";
export {
  type InstrumentProbability,
  matchedLabels,
  namedClasses,
  playProbabilities,
  rankInstruments,
  sameLabels,
  softmaxRows,
  sourceClasses,
} from "./naming.js";
export { applyPermutations, bestPermutations, pairwiseMse, permuteToSources } from "./pit.js";
