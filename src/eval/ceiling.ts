/**
 * Where a trained model loses its naming: its own classifier on three inputs of every mixture, each
 * named with predict's rule — the separated sources (what `predict` and `eval` name), the clean
 * reference sources (what a perfect separator would give this classifier) and the mixture itself
 * (no separation). `scripts/naming-ceiling.ts` prints it.
 */
import { join } from "node:path";
import { buildFeatureCache, readBatch } from "../data/dataset/cache.js";
import { labelIndices, type TrainData } from "../data/dataset/dataset.js";
import { F, noGrad, type Tensor, tensor, tidy } from "../engine/index.js";
import type { LoadedModelFolder } from "../model/folder.js";
import { matchedLabels, namedClasses } from "../separator/naming.js";
import { type EvaluateSettings, evaluationSamples } from "./evaluate.js";

/** The classifier inputs compared, in report order. */
export const NAMING_INPUTS = ["separated", "references", "mixture"] as const;
export type NamingInput = (typeof NAMING_INPUTS)[number];

/** How well one input names the instruments. */
export interface NamingScores {
  /** Share of the sources named right (order-free, as eval's named accuracy). */
  namedAccuracy: number;
  /** Share of the mixtures with every source named right. */
  allNamed: number;
  /** Per class: the share of its sources named right; null when the class has no source here. */
  perClass: Record<string, number | null>;
}

export interface NamingCeiling {
  /** Which samples: "split.json test" or "all" (eval's `subset` choice). */
  split: string;
  mixtures: number;
  sources: number;
  separated: NamingScores;
  references: NamingScores;
  mixture: NamingScores;
}

/** The model's classifier on one mixture's three inputs: probabilities over the model's classes. */
export interface MixtureProbabilities {
  /** The true class index of every source. */
  labels: number[];
  /** [K, classes] per separated source. */
  separated: Float32Array;
  /** [K, classes] per clean reference source. */
  references: Float32Array;
  /** [classes] of the mixture itself. */
  mixture: Float32Array;
}

/** {@link classifierProbabilities}' result. */
export interface ClassifierProbabilities {
  /** Which samples: "split.json test" or "all" (eval's `subset` choice). */
  split: string;
  /** Sources per mixture (K). */
  sources: number;
  /** One entry per mixture, in the dataset's order. */
  mixtures: MixtureProbabilities[];
}

/**
 * Runs the model's own classifier on every mixture of `data`: its separated sources, the clean
 * reference sources and the mixture itself. Features come from the dataset's feature cache
 * (`<data>/.stemscope-cache`, the trainer's; built with the model's feature settings where missing);
 * float32.
 * @param folder a loaded model folder (its model in eval mode); not disposed here
 * @param data a dataset whose labels are the model's classes (`readTrainData(dir, { classes })`)
 * @param options.subset as eval's: `auto` (split.json's test part when there is one), `test` or `all`
 * @throws InferenceError for `test` without split.json (see {@link evaluationSamples}); DataError from
 *   the feature cache for unreadable audio
 */
export async function classifierProbabilities(
  folder: LoadedModelFolder,
  data: TrainData,
  options: { subset?: EvaluateSettings["subset"]; batchSize?: number; jobs?: number } = {},
): Promise<ClassifierProbabilities> {
  const { model, classes, features } = folder;
  const { samples, description } = evaluationSamples(data, options.subset ?? "auto");
  const store = await buildFeatureCache(samples, features, {
    cacheDir: join(data.dir, ".stemscope-cache"),
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
  });
  const k = data.sources;
  const c = classes.length;
  const [rows, cols] = [store.rows, store.cols];
  const mixtures: MixtureProbabilities[] = [];
  const batchSize = options.batchSize ?? 32;
  for (let b0 = 0; b0 < samples.length; b0 += batchSize) {
    const chunk = samples.slice(b0, b0 + batchSize);
    const n = chunk.length;
    const batch = readBatch({ entries: store.entries.slice(b0, b0 + n), planes: 1 + k, rows, cols });
    const probs = noGrad(() =>
      tidy(() => {
        const mixture = tensor(batch.mixture, [n, 1, rows, cols]).contiguous("channels_last");
        const sources = tensor(batch.sources, [n, k, rows, cols]);
        // logits [n, rows of the input, classes] → probabilities over the classes
        const softmax = (logits: Tensor): Float32Array =>
          F.softmax(logits.float(), 2).contiguous().toFloat32Array();
        return {
          separated: softmax(model.forward(mixture).logits),
          references: softmax(model.classifySources(sources, mixture)),
          mixture: softmax(model.classifySources(mixture, mixture)),
        };
      }),
    );
    chunk.forEach((sample, i) => {
      const rowsOf = (input: NamingInput): Float32Array => {
        const perMixture = input === "mixture" ? 1 : k;
        return probs[input].slice(i * perMixture * c, (i + 1) * perMixture * c);
      };
      mixtures.push({
        labels: labelIndices(data, sample),
        separated: rowsOf("separated"),
        references: rowsOf("references"),
        mixture: rowsOf("mixture"),
      });
    });
  }
  return { split: description, sources: k, mixtures };
}

/**
 * Names every mixture of `data` three ways with the model's own classifier (see
 * {@link classifierProbabilities}): the separated and the reference sources by predict's rule, the
 * mixture by its K most probable classes.
 */
export async function namingCeiling(
  folder: LoadedModelFolder,
  data: TrainData,
  options: { subset?: EvaluateSettings["subset"]; batchSize?: number; jobs?: number } = {},
): Promise<NamingCeiling> {
  const { split, sources: k, mixtures } = await classifierProbabilities(folder, data, options);
  const c = folder.classes.length;
  const score = (input: NamingInput): NamingScores =>
    namingScores(
      mixtures.map((m) => ({
        labels: m.labels,
        named: input === "mixture" ? topClasses(m.mixture, k) : namedClasses(m[input], k, c),
      })),
      folder.classes,
    );
  return {
    split,
    mixtures: mixtures.length,
    sources: k,
    separated: score("separated"),
    references: score("references"),
    mixture: score("mixture"),
  };
}

/**
 * Named accuracy, all named and per-class named recall of named classes against true labels (each
 * true label matched at most once, order-free).
 * @param results per mixture: its true class indices and the K classes named
 */
export function namingScores(
  results: readonly { labels: readonly number[]; named: readonly number[] }[],
  classes: readonly string[],
): NamingScores {
  let named = 0;
  let allNamed = 0;
  let sources = 0;
  const perClass = classes.map(() => ({ named: 0, total: 0 }));
  for (const r of results) {
    const matched = matchedLabels(r.named, r.labels);
    named += matched;
    sources += r.labels.length;
    if (matched === r.labels.length) allNamed++;
    const left = [...r.named];
    for (const label of r.labels) {
      const entry = perClass[label]!;
      entry.total++;
      const at = left.indexOf(label);
      if (at >= 0) {
        entry.named++;
        left.splice(at, 1);
      }
    }
  }
  return {
    namedAccuracy: named / Math.max(1, sources),
    allNamed: allNamed / Math.max(1, results.length),
    perClass: Object.fromEntries(
      classes.map((name, j) => {
        const e = perClass[j]!;
        return [name, e.total > 0 ? e.named / e.total : null];
      }),
    ),
  };
}

/** The `count` classes of highest probability in one row (ties: the lower index), ascending. */
export function topClasses(row: ArrayLike<number>, count: number): number[] {
  return Array.from({ length: row.length }, (_, j) => j)
    .sort((a, b) => row[b]! - row[a]! || a - b)
    .slice(0, count)
    .sort((a, b) => a - b);
}
