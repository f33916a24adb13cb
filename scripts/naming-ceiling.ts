/**
 * Where a trained model loses its naming: `node --import tsx scripts/naming-ceiling.ts --model <folder>
 * --data <train_data> [--subset auto|test|all] [--json]`.
 *
 * Runs the model's own classifier on three inputs of every mixture and names the K instruments from
 * each with predict's rule (the K highest play probabilities, `namedClasses`):
 * - `separated`: the sources the U-Net separated — what `predict` and `eval` name;
 * - `references`: the clean reference sources — the naming a perfect separator would give this
 *   classifier (the separation's share of the loss is `references − separated`);
 * - `mixture`: the mixture itself, its K most probable classes — naming with no separation at all.
 * Reports named accuracy, all named and per-class named recall for each. Features come from the
 * dataset's feature cache (the trainer's), computed with the model's own feature settings; float32,
 * libtorch. A diagnostic, not part of the library.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildFeatureCache, readBatch } from "../src/data/dataset/cache.js";
import { labelIndices, readTrainData } from "../src/data/dataset/dataset.js";
import { F, noGrad, setNumThreads, tensor, tidy } from "../src/engine/index.js";
import { StemscopeError } from "../src/errors.js";
import { evaluationSamples } from "../src/eval/index.js";
import { loadModelFolder } from "../src/model/folder.js";
import { matchedLabels, namedClasses } from "../src/separator/naming.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    data: { type: "string" },
    subset: { type: "string", default: "auto" },
    batch: { type: "string", default: "32" },
    json: { type: "boolean", default: false },
  },
});
if (values.model === undefined || values.data === undefined) {
  console.error(
    "usage: scripts/naming-ceiling.ts --model <model folder> --data <train_data> [--subset auto|test|all] [--json]",
  );
  process.exit(2);
}
if (values.subset !== "auto" && values.subset !== "test" && values.subset !== "all") {
  console.error(
    `--subset ${values.subset}: expected auto (split.json's test part when there is one, else all), test or all`,
  );
  process.exit(2);
}
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) {
  console.error(`--batch ${values.batch}: expected a whole number of mixtures ≥ 1`);
  process.exit(2);
}
try {
  await main(values.model, values.data, values.subset);
} catch (error) {
  // Bad input (a missing folder, an unknown label, weights that do not fit): the message, no stack.
  if (!(error instanceof StemscopeError)) throw error;
  console.error(`naming-ceiling: ${error.message}`);
  process.exit(1);
}

async function main(modelDir: string, dataDir: string, subset: "auto" | "test" | "all"): Promise<void> {
  setNumThreads(availableParallelism());

  const { model, classes, features } = await loadModelFolder(modelDir);
  // With the model's classes, a label the model does not know is an error naming its line.
  const data = readTrainData(dataDir, { classes });
  // The same choice as eval's `--subset`.
  const { samples, description } = evaluationSamples(data, subset);
  const store = await buildFeatureCache(samples, features, { cacheDir: join(data.dir, ".stemscope-cache") });
  const indices = samples.map((_, i) => i);
  const k = data.sources;
  const c = classes.length;
  const [rows, cols] = [store.rows, store.cols];
  const labelsOf = (i: number): number[] => labelIndices(data, samples[i]!);

  const INPUTS = ["separated", "references", "mixture"] as const;
  type Input = (typeof INPUTS)[number];
  const tally = Object.fromEntries(
    INPUTS.map((input) => [
      input,
      { named: 0, allNamed: 0, perClass: classes.map(() => ({ named: 0, total: 0 })) },
    ]),
  ) as Record<Input, { named: number; allNamed: number; perClass: { named: number; total: number }[] }>;

  for (let b0 = 0; b0 < indices.length; b0 += batchSize) {
    const chunk = indices.slice(b0, b0 + batchSize);
    const n = chunk.length;
    const batch = readBatch({ entries: chunk.map((i) => store.entries[i]!), planes: 1 + k, rows, cols });
    const probs = noGrad(() =>
      tidy(() => {
        const mixture = tensor(batch.mixture, [n, 1, rows, cols]).contiguous("channels_last");
        const sources = tensor(batch.sources, [n, k, rows, cols]);
        const softmax = (logits: ReturnType<typeof model.classifySources>): Float32Array =>
          F.softmax(logits.float(), 2).contiguous().toFloat32Array();
        return {
          separated: softmax(model.forward(mixture).logits),
          references: softmax(model.classifySources(sources, mixture)),
          mixture: softmax(model.classifySources(mixture, mixture)),
        };
      }),
    );
    chunk.forEach((sample, i) => {
      const labels = labelsOf(sample);
      for (const input of INPUTS) {
        const rowsOf = input === "mixture" ? 1 : k;
        const p = probs[input].subarray(i * rowsOf * c, (i + 1) * rowsOf * c);
        // The mixture's single row names its K most probable classes.
        const top = input === "mixture" ? topClasses(p, k) : namedClasses(p, k, c);
        const matched = matchedLabels(top, labels);
        const t = tally[input];
        t.named += matched;
        if (matched === k) t.allNamed++;
        const left = [...top];
        for (const label of labels) {
          const entry = t.perClass[label]!;
          entry.total++;
          const at = left.indexOf(label);
          if (at >= 0) {
            entry.named++;
            left.splice(at, 1);
          }
        }
      }
    });
  }
  model.dispose();

  const total = indices.length;
  const scores = (input: Input) => {
    const t = tally[input];
    return {
      namedAccuracy: t.named / (total * k),
      allNamed: t.allNamed / total,
      perClass: Object.fromEntries(
        classes.map((name, j) => [
          name,
          t.perClass[j]!.total > 0 ? t.perClass[j]!.named / t.perClass[j]!.total : null,
        ]),
      ),
    };
  };
  const result = {
    model: modelDir,
    data: data.dir,
    subset: description,
    mixtures: total,
    sources: k,
    separated: scores("separated"),
    references: scores("references"),
    mixture: scores("mixture"),
  };
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    const pct = (x: number | null): string => (x === null ? "–" : `${(100 * x).toFixed(1)} %`);
    console.log(`${modelDir} on ${data.dir} (${description}: ${total} mixtures of ${k} sources)\n`);
    console.log(`| classifier input | named | all named | ${classes.join(" | ")} |`);
    console.log(`|---|---|---|${classes.map(() => "---|").join("")}`);
    for (const input of INPUTS) {
      const r = result[input];
      const cells = classes.map((name) => pct(r.perClass[name] ?? null));
      console.log(`| ${input} | ${pct(r.namedAccuracy)} | ${pct(r.allNamed)} | ${cells.join(" | ")} |`);
    }
  }
}

/** The k classes of highest probability in one row (ties: the lower index), ascending. */
function topClasses(row: ArrayLike<number>, count: number): number[] {
  return Array.from({ length: row.length }, (_, j) => j)
    .sort((a, b) => row[b]! - row[a]! || a - b)
    .slice(0, count)
    .sort((a, b) => a - b);
}
