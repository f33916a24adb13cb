/**
 * What the joint model's classifier could reach with perfect separation: `node --import tsx
 * scripts/classifier-ceiling.ts --data <train_data> [--steps 600] [--batch 32] [--preset fast]`.
 *
 * Trains the preset's ResNet alone on the *reference* source spectrograms of the training part of
 * split.json (the same cached native/seed features the trainer uses), then reports on the test part:
 * - `cleanAccuracy`: per-source accuracy on the clean reference sources (the ceiling of the seed's
 *   per-source metric if the U-Net separated perfectly);
 * - `mixtureNamedAccuracy`: the same classifier applied to the *mixture*, naming its K most probable
 *   classes, scored order-free (a baseline with no separation at all).
 * Prints one JSON object. A diagnostic, not part of the library.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildFeatureCache, readBatch } from "../src/data/dataset/cache.js";
import { labelIndices, readTrainData, splitTrainData } from "../src/data/dataset/dataset.js";
import { Adam, F, manualSeed, noGrad, setNumThreads, tensor, tidy } from "../src/engine/index.js";
import { matchedLabels } from "../src/separator/naming.js";
import { FeatureConfigSchema } from "../src/features/config.js";
import { PRESETS, type PresetName } from "../src/model/presets.js";
import { ResNet, ResNetConfigSchema } from "../src/model/resnet.js";
import { augmentBatch, DEFAULT_AUGMENT } from "../src/train/augment.js";
import { Random } from "../src/util/random.js";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    steps: { type: "string", default: "600" },
    batch: { type: "string", default: "32" },
    lr: { type: "string", default: "0.003" },
    preset: { type: "string", default: "fast" },
    features: { type: "string", default: "native" },
    "test-limit": { type: "string", default: "2000" },
    seed: { type: "string", default: "0" },
    augment: { type: "boolean", default: false },
    "eq-db": { type: "string", default: String(DEFAULT_AUGMENT.eqDb) },
    "shift-bins": { type: "string", default: String(DEFAULT_AUGMENT.shiftBins) },
  },
});
if (values.data === undefined) throw new Error("--data <train_data folder> is required");
const steps = Number(values.steps);
const batchSize = Number(values.batch);
const seed = Number(values.seed);
setNumThreads(availableParallelism());
manualSeed(seed);

const data = readTrainData(values.data);
const split = splitTrainData(data, "auto", { seed, testFraction: 0.2 });
const features = FeatureConfigSchema.parse({ mode: values.features, ...(data.audio ?? {}) });
const store = await buildFeatureCache(data.samples, features, {
  cacheDir: join(data.dir, ".stemscope-cache"),
});
const k = data.sources;
const c = data.classes.length;
const [rows, cols] = [store.rows, store.cols];
const labelsOf = data.samples.map((s) => labelIndices(data, s));
const load = (indices: number[]) =>
  readBatch({ entries: indices.map((i) => store.entries[i]!), planes: 1 + k, rows, cols });

const preset = PRESETS[values.preset as PresetName];
if (preset === undefined) throw new Error(`--preset ${values.preset}: unknown`);
const net = new ResNet(ResNetConfigSchema.parse(preset.resnet), c).toChannelsLast();
const optimizer = new Adam(net.parameters(), { lr: Number(values.lr), weightDecay: 1e-4 });
const random = new Random(seed).fork("ceiling");
const augmentSettings = {
  ...DEFAULT_AUGMENT,
  eqDb: Number(values["eq-db"]),
  shiftBins: Number(values["shift-bins"]),
  topDb: features.topDb,
};
const t0 = performance.now();
let order: number[] = [];
for (let step = 0; step < steps; step++) {
  if (order.length < batchSize) order = random.shuffle(split.train.slice());
  const indices = order.splice(0, batchSize);
  const batch = load(indices);
  if (values.augment) {
    const shape = { batch: indices.length, k, rows, cols };
    augmentBatch(batch.mixture, batch.sources, shape, augmentSettings, random);
  }
  const labels = tensor(
    BigInt64Array.from(
      indices.flatMap((i) => labelsOf[i]!),
      (v) => BigInt(v),
    ),
    [indices.length * k],
  );
  const loss = tidy(() => {
    const x = tensor(batch.sources, [indices.length * k, 1, rows, cols]).contiguous("channels_last");
    return F.crossEntropy(net.forward(x), labels);
  });
  optimizer.zeroGrad();
  loss.backward();
  optimizer.step();
  if (step % 100 === 0) console.error(`step ${step}: loss ${loss.item().toFixed(4)}`);
  loss.dispose();
  labels.dispose();
}
const trainSeconds = (performance.now() - t0) / 1000;

net.eval();
// Evenly spaced, so every pair of classes is represented (samples are stored pair by pair).
const stride = Math.max(1, Math.floor(split.test.length / Number(values["test-limit"])));
const test = split.test.filter((_, i) => i % stride === 0);
let clean = 0;
const perClass = data.classes.map(() => ({ right: 0, total: 0, predicted: new Array<number>(c).fill(0) }));
let named = 0;
for (let b0 = 0; b0 < test.length; b0 += 64) {
  const indices = test.slice(b0, b0 + 64);
  const batch = load(indices);
  const { sourceProbs, mixtureProbs } = noGrad(() =>
    tidy(() => ({
      sourceProbs: F.softmax(
        net.forward(tensor(batch.sources, [indices.length * k, 1, rows, cols]).contiguous("channels_last")),
        1,
      ).toFloat32Array(),
      mixtureProbs: F.softmax(
        net.forward(tensor(batch.mixture, [indices.length, 1, rows, cols]).contiguous("channels_last")),
        1,
      ).toFloat32Array(),
    })),
  );
  indices.forEach((sample, i) => {
    const labels = labelsOf[sample]!;
    for (let s = 0; s < k; s++) {
      const row = sourceProbs.subarray((i * k + s) * c, (i * k + s + 1) * c);
      const guess = row.indexOf(Math.max(...row));
      const entry = perClass[labels[s]!]!;
      entry.total++;
      entry.predicted[guess]!++;
      if (guess === labels[s]) {
        clean++;
        entry.right++;
      }
    }
    const mix = Array.from(mixtureProbs.subarray(i * c, (i + 1) * c));
    const top = mix
      .map((p, j) => [p, j] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, k)
      .map(([, j]) => j);
    named += matchedLabels(top, labels);
  });
}
console.log(
  JSON.stringify({
    data: data.dir,
    preset: values.preset,
    features: values.features,
    steps,
    batchSize,
    augment: values.augment ? augmentSettings : false,
    trainSeconds: Math.round(trainSeconds),
    testSamples: test.length,
    cleanAccuracy: clean / (test.length * k),
    mixtureNamedAccuracy: named / (test.length * k),
    // Clean accuracy per true class, and the class it was most often taken for when wrong.
    perClass: Object.fromEntries(
      data.classes.map((name, i) => {
        const e = perClass[i]!;
        const wrong = e.predicted.map((n, j) => (j === i ? -1 : n));
        const most = wrong.indexOf(Math.max(...wrong));
        return [
          name,
          { accuracy: e.total > 0 ? e.right / e.total : 0, mostConfusedWith: data.classes[most] },
        ];
      }),
    ),
  }),
);
