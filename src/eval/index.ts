// Evaluation: metrics (classification, spectrogram MSE, SDR / SI-SDR), `evaluate()` on a labels.txt
// dataset, and the Markdown + SVG report.
export {
  bestSiSdrOrder,
  classificationScores,
  type ClassificationScores,
  type ClassScores,
  confusionMatrix,
  finiteMean,
  finiteMedian,
  meanSquaredError,
  SDR_CAP_DB,
  sdr,
  siSdr,
  sourceAudioScores,
  type SourceAudioScores,
} from "./metrics.js";
export {
  type AudioScoreSummary,
  type DbSummary,
  EVAL_FORMAT_VERSION,
  evaluate,
  type EvaluateOptions,
  EvaluateOptionsSchema,
  type EvaluateSettings,
  type EvalMetrics,
  evaluationSamples,
} from "./evaluate.js";
export { reportMarkdown, trainingCurveSvgs, writeReport } from "./report.js";
export {
  barChartSvg,
  type BarChartOptions,
  escapeXml,
  heatmapSvg,
  type HeatmapOptions,
  lineChartSvg,
  type LineChartOptions,
  type LineSeries,
  niceTicks,
} from "./svg.js";
export {
  NAMING_INPUTS,
  type NamingCeiling,
  namingCeiling,
  type NamingInput,
  type NamingScores,
} from "./ceiling.js";
