/**
 * Other naming rules on the same classifier outputs: `node --import tsx scripts/naming-rules.ts
 * --model <folder> --data <train_data> [--calibrate <train_data>] [--subset auto|test|all] [--json]`.
 *
 * Names every mixture of --data with predict's rule and with the test-time rules of
 * src/eval/naming-rules.ts:
 * - `fused w`: the separated sources' play probabilities blended with the classifier's probabilities
 *   for the whole mixture (w 0.25, 0.5, 0.75; w 1 is the mixture alone);
 * - `prior, calibrated`: class weights equalising the mean per-source probabilities of --calibrate
 *   (all its mixtures; e.g. in-domain mixtures of the training groups' held-back clips);
 * - `prior, on the test set itself`: the same weights fitted on --data's own outputs (transductive,
 *   labels unused): what any prior correction could reach here at most, not a method.
 * Prints named accuracy and all named per rule (Markdown, or JSON). A diagnostic, not part of the CLI.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { setNumThreads } from "../src/engine/index.js";
import { StemscopeError } from "../src/errors.js";
import { classifierProbabilities, type MixtureProbabilities, namingScores } from "../src/eval/ceiling.js";
import { equalisingWeights, fusedClasses, reweightRows } from "../src/eval/naming-rules.js";
import { loadModelFolder } from "../src/model/folder.js";
import { namedClasses } from "../src/separator/naming.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    data: { type: "string" },
    calibrate: { type: "string" },
    subset: { type: "string", default: "auto" },
    json: { type: "boolean", default: false },
  },
});
if (values.model === undefined || values.data === undefined) {
  console.error(
    "usage: scripts/naming-rules.ts --model <model folder> --data <train_data> [--calibrate <train_data>] [--subset auto|test|all] [--json]",
  );
  process.exit(2);
}
const subset = values.subset;
if (subset !== "auto" && subset !== "test" && subset !== "all") {
  console.error(`--subset ${subset}: expected auto, test or all`);
  process.exit(2);
}
setNumThreads(availableParallelism());

try {
  const folder = await loadModelFolder(values.model);
  const c = folder.classes.length;
  const outputs = async (dir: string, which: typeof subset) =>
    classifierProbabilities(folder, readTrainData(dir, { classes: folder.classes }), { subset: which });
  const test = await outputs(values.data, subset);
  const k = test.sources;
  const separatedRows = (mixtures: MixtureProbabilities[]): Float32Array => {
    const rows = new Float32Array(mixtures.length * k * c);
    mixtures.forEach((m, i) => rows.set(m.separated, i * k * c));
    return rows;
  };
  const rule = (name: string, namesOf: (m: MixtureProbabilities) => number[]) => ({
    rule: name,
    ...namingScores(
      test.mixtures.map((m) => ({ labels: m.labels, named: namesOf(m) })),
      folder.classes,
    ),
  });
  const prior = (weights: Float64Array) => (m: MixtureProbabilities) =>
    namedClasses(reweightRows(m.separated, weights), k, c);
  const rules = [
    rule("predict's (separated sources' play probabilities)", (m) => namedClasses(m.separated, k, c)),
    ...[0.25, 0.5, 0.75, 1].map((w) =>
      rule(w === 1 ? "the mixture alone" : `fused with the mixture, w ${w}`, (m) =>
        fusedClasses(m.separated, m.mixture, k, c, w),
      ),
    ),
  ];
  const weights: { calibrated?: number[]; transductive: number[] } = { transductive: [] };
  if (values.calibrate !== undefined) {
    const calibration = await outputs(values.calibrate, "all");
    if (calibration.sources !== k)
      throw new StemscopeError(`--calibrate has ${calibration.sources} sources per mixture, --data ${k}`);
    const w = equalisingWeights(separatedRows(calibration.mixtures), c);
    weights.calibrated = [...w];
    rules.push(rule(`prior, calibrated on ${values.calibrate}`, prior(w)));
  }
  const own = equalisingWeights(separatedRows(test.mixtures), c);
  weights.transductive = [...own];
  rules.push(rule("prior, on the test set itself (bound, not a method)", prior(own)));
  folder.model.dispose();
  if (values.json) {
    console.log(
      JSON.stringify({
        model: values.model,
        data: values.data,
        split: test.split,
        classes: folder.classes,
        weights,
        rules,
      }),
    );
  } else {
    const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
    console.log(
      `${values.model} on ${values.data} (${test.split}: ${test.mixtures.length} mixtures of ${k} sources)\n`,
    );
    console.log("| rule | named | all named |\n|---|---|---|");
    for (const r of rules) console.log(`| ${r.rule} | ${pct(r.namedAccuracy)} | ${pct(r.allNamed)} |`);
    const show = (w: number[]) => folder.classes.map((name, j) => `${name} ${w[j]!.toFixed(2)}`).join(", ");
    if (weights.calibrated !== undefined)
      console.log(`\ncalibrated class weights: ${show(weights.calibrated)}`);
    console.log(`test-set class weights: ${show(weights.transductive)}`);
  }
} catch (error) {
  // Bad input (a missing folder, an unknown label, weights that do not fit): the message, no stack.
  if (!(error instanceof StemscopeError)) throw error;
  console.error(`naming-rules: ${error.message}`);
  process.exit(1);
}
