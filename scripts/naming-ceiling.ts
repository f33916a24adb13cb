/**
 * Where a trained model loses its naming: `node --import tsx scripts/naming-ceiling.ts --model <folder>
 * --data <train_data> [--subset auto|test|all] [--json]`.
 *
 * Runs the model's own classifier on three inputs of every mixture and names the K instruments from
 * each with predict's rule (`namingCeiling` in src/eval/ceiling.ts):
 * - `separated`: the sources the U-Net separated — what `predict` and `eval` name;
 * - `references`: the clean reference sources — the naming a perfect separator would give this
 *   classifier (the separation's share of the loss is `references − separated`);
 * - `mixture`: the mixture itself, its K most probable classes — naming with no separation at all.
 * Prints named accuracy, all named and per-class named recall of each as a Markdown table (or JSON).
 * A diagnostic, not part of the CLI.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { setNumThreads } from "../src/engine/index.js";
import { StemscopeError } from "../src/errors.js";
import { NAMING_INPUTS, namingCeiling } from "../src/eval/ceiling.js";
import { loadModelFolder } from "../src/model/folder.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    data: { type: "string" },
    subset: { type: "string", default: "auto" },
    batch: { type: "string", default: "32" },
    json: { type: "boolean", default: false },
  },
});
const usage =
  "usage: scripts/naming-ceiling.ts --model <model folder> --data <train_data> [--subset auto|test|all] [--batch n] [--json]";
if (values.model === undefined || values.data === undefined) {
  console.error(usage);
  process.exit(2);
}
const subset = values.subset;
if (subset !== "auto" && subset !== "test" && subset !== "all") {
  console.error(
    `--subset ${subset}: expected auto (split.json's test part when there is one, else all), test or all`,
  );
  process.exit(2);
}
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) {
  console.error(`--batch ${values.batch}: expected a whole number of mixtures ≥ 1`);
  process.exit(2);
}
setNumThreads(availableParallelism());

try {
  const folder = await loadModelFolder(values.model);
  // With the model's classes, a label the model does not know is an error naming its line.
  const data = readTrainData(values.data, { classes: folder.classes });
  const result = await namingCeiling(folder, data, { subset, batchSize });
  folder.model.dispose();
  if (values.json) {
    console.log(JSON.stringify({ model: values.model, data: data.dir, ...result }));
  } else {
    const pct = (x: number | null): string => (x === null ? "–" : `${(100 * x).toFixed(1)} %`);
    console.log(
      `${values.model} on ${data.dir} (${result.split}: ${result.mixtures} mixtures of ${result.sources} sources)\n`,
    );
    console.log(`| classifier input | named | all named | ${folder.classes.join(" | ")} |`);
    console.log(`|---|---|---|${folder.classes.map(() => "---|").join("")}`);
    for (const input of NAMING_INPUTS) {
      const r = result[input];
      const cells = folder.classes.map((name) => pct(r.perClass[name] ?? null));
      console.log(`| ${input} | ${pct(r.namedAccuracy)} | ${pct(r.allNamed)} | ${cells.join(" | ")} |`);
    }
  }
} catch (error) {
  // Bad input (a missing folder, an unknown label, weights that do not fit): the message, no stack.
  if (!(error instanceof StemscopeError)) throw error;
  console.error(`naming-ceiling: ${error.message}`);
  process.exit(1);
}
