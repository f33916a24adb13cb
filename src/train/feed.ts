/**
 * Where a run's batches come from — one interface, two kinds of data:
 * - `dataset`: a train_data folder (labels.txt, made by `stemscope mix`): every sample's features are
 *   cached once and read back by the loader thread, shuffled per epoch;
 * - `remix`: a raw_data clip library (made by `stemscope synth`): every training step draws new
 *   mixtures from the clips in memory and computes their features then (the native kernel makes a
 *   batch of 32 mixtures in tens of milliseconds), so no two epochs see the same mixtures.
 *   Validation uses one fixed set of mixtures drawn from the validation clips.
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { BatchLoader, type FeatureBatch, type FeatureStore } from "../data/dataset/cache.js";
import { clipTestSides } from "../data/mix/clip-split.js";
import { type DataSplit, labelIndices, type TrainData } from "../data/dataset/dataset.js";
import type { MixTask } from "../data/mix/render.js";
import { type ClipPool, Remixer } from "../data/mix/remix.js";
import type { FeatureConfig } from "../features/config.js";
import { sampleFeaturesBatch } from "../features/pipeline.js";
import { Random } from "../util/random.js";

/** A batch of features with the class index of every source: labels[b][k]. */
export interface LabeledBatch extends FeatureBatch {
  labels: number[][];
}

/** What shards a feed's batches over the ranks of a data-parallel run (see distributed.ts). */
export interface Sharding {
  rank: number;
  worldSize: number;
  shardTrain(order: readonly number[]): number[];
  shardEval(indices: readonly number[]): number[];
}

/** How the samples were split between training and validation. */
export type SplitSource = DataSplit["source"] | "clips";

/** The batches of one run, whatever the data. */
export interface DataFeed {
  readonly kind: "dataset" | "remix";
  /** The data folder. */
  readonly dir: string;
  readonly classes: string[];
  /** Sources per mixture (K). */
  readonly sources: number;
  /** Feature rows (nMels) and columns of every plane. */
  readonly rows: number;
  readonly cols: number;
  /** Samples one epoch trains on (over all ranks) and validates on. */
  readonly trainSamples: number;
  readonly testSamples: number;
  readonly split: SplitSource;
  /**
   * The training batches of `epoch` on this rank, in order: each a list of sample keys (dataset: sample
   * indices; remix: draw numbers) — pass them to {@link load}.
   */
  trainBatches(epoch: number, batchSize: number, sharding: Sharding | null): number[][];
  /** The validation batches on this rank (every validation sample once over the ranks). */
  validationBatches(batchSize: number, sharding: Sharding | null): number[][];
  /** Features and labels of one batch of {@link trainBatches} (`train`) or {@link validationBatches}. */
  load(keys: number[], pass: { epoch: number; train: boolean }): Promise<LabeledBatch>;
  /** What makes two ranks' data the same (sha256 prefix). */
  digest(): string;
  close(): Promise<void>;
}

/** `indices` cut into batches of batchSize (the last one may be smaller). */
export function batches(indices: readonly number[], batchSize: number): number[][] {
  const list: number[][] = [];
  for (let i = 0; i < indices.length; i += batchSize) list.push(indices.slice(i, i + batchSize));
  return list;
}

/** A train_data folder's cached features, read by the loader thread. */
export class DatasetFeed implements DataFeed {
  readonly kind = "dataset";
  readonly #labelsOf: number[][];

  constructor(
    readonly data: TrainData,
    readonly splitOf: DataSplit,
    readonly store: FeatureStore,
    readonly loader: BatchLoader,
    readonly seed: number,
  ) {
    this.#labelsOf = data.samples.map((s) => labelIndices(data, s));
  }

  get dir(): string {
    return this.data.dir;
  }
  get classes(): string[] {
    return this.data.classes;
  }
  get sources(): number {
    return this.data.sources;
  }
  get rows(): number {
    return this.store.rows;
  }
  get cols(): number {
    return this.store.cols;
  }
  get trainSamples(): number {
    return this.splitOf.train.length;
  }
  get testSamples(): number {
    return this.splitOf.test.length;
  }
  get split(): SplitSource {
    return this.splitOf.source;
  }

  trainBatches(epoch: number, batchSize: number, sharding: Sharding | null): number[][] {
    const shuffled = new Random(this.seed).fork(`train:shuffle:${epoch}`).shuffle(this.splitOf.train.slice());
    return batches(sharding?.shardTrain(shuffled) ?? shuffled, batchSize);
  }

  validationBatches(batchSize: number, sharding: Sharding | null): number[][] {
    return batches(sharding?.shardEval(this.splitOf.test) ?? this.splitOf.test, batchSize);
  }

  async load(keys: number[]): Promise<LabeledBatch> {
    const batch = await this.loader.load(keys.map((i) => this.store.entries[i]!));
    return { ...batch, labels: keys.map((i) => this.#labelsOf[i]!) };
  }

  digest(): string {
    const hash = createHash("sha256");
    hash.update(
      JSON.stringify([this.data.classes, this.data.sources, this.splitOf.train, this.splitOf.test]),
    );
    for (const entry of this.store.entries) hash.update(entry.slice(entry.lastIndexOf("/") + 1)).update("\n");
    return hash.digest("hex").slice(0, 16);
  }

  close(): Promise<void> {
    return this.loader.close();
  }
}

/** Settings of a {@link RemixFeed}. */
export interface RemixFeedSettings {
  sources: number;
  /** Mixtures drawn per epoch (over all ranks). */
  mixtures: number;
  /** Mixtures in the fixed validation set. */
  valMixtures: number;
  /** Gain of sources 2…K relative to source 1, dB. */
  gainDb: readonly [number, number];
  /** Fraction of each class's clips kept for validation. */
  testFraction: number;
  seed: number;
  /** Threads of the native feature kernel. */
  threads?: number;
}

/** Mixtures drawn afresh from a clip library every step (see the module comment). */
export class RemixFeed implements DataFeed {
  readonly kind = "remix";
  readonly split = "clips";
  readonly rows: number;
  readonly cols: number;
  readonly train: Remixer;
  readonly validation: Remixer;
  /** The fixed validation mixtures. */
  readonly #valTasks: MixTask[];
  /** Clips on each side. */
  readonly trainClips: number;
  readonly testClips: number;

  constructor(
    readonly pool: ClipPool,
    readonly features: FeatureConfig,
    readonly settings: RemixFeedSettings,
  ) {
    this.rows = features.nMels;
    this.cols = features.size;
    // Clips ranked among all of their class's clips in the library (held-out ones too): the sides
    // are `mix --split-by clip`'s with the same seed, so `mix` can rebuild this validation set.
    const testKeys = new Set<string>();
    pool.classes.forEach((name, c) => {
      const keys = pool.libraryKeys[c]!;
      const test = clipTestSides(keys, settings.testFraction, settings.seed, {
        folder: `${pool.dir}/${name}`,
        setting: "training on a clip library",
      });
      keys.forEach((key, i) => test[i] && testKeys.add(key));
    });
    const sides = pool.clips.map((clip) => testKeys.has(clip.key));
    const ids = (test: boolean): number[] => pool.clips.flatMap((_, id) => (sides[id] === test ? [id] : []));
    const remix = {
      sources: settings.sources,
      length: Math.round(features.seconds * features.sampleRate),
      gainDb: settings.gainDb,
      peak: 0.9,
    };
    const trainIds = ids(false);
    const testIds = ids(true);
    this.trainClips = trainIds.length;
    this.testClips = testIds.length;
    this.train = new Remixer(pool, trainIds, remix);
    this.validation = new Remixer(pool, testIds, remix);
    const random = new Random(settings.seed).fork("remix:validation");
    this.#valTasks = Array.from({ length: settings.valMixtures }, () => this.validation.task(random));
  }

  get dir(): string {
    return this.pool.dir;
  }
  get classes(): string[] {
    return this.pool.classes;
  }
  get sources(): number {
    return this.settings.sources;
  }
  get trainSamples(): number {
    return this.settings.mixtures;
  }
  get testSamples(): number {
    return this.settings.valMixtures;
  }

  trainBatches(_epoch: number, batchSize: number, sharding: Sharding | null): number[][] {
    // Every rank draws its own mixtures (keys are global draw numbers), the same number of steps each.
    const ranks = sharding?.worldSize ?? 1;
    const rank = sharding?.rank ?? 0;
    const steps = Math.ceil(this.settings.mixtures / (batchSize * ranks));
    return Array.from({ length: steps }, (_, b) =>
      Array.from({ length: batchSize }, (_, i) => (b * ranks + rank) * batchSize + i),
    );
  }

  validationBatches(batchSize: number, sharding: Sharding | null): number[][] {
    const all = this.#valTasks.map((_, i) => i);
    return batches(sharding?.shardEval(all) ?? all, batchSize);
  }

  async load(keys: number[], pass: { epoch: number; train: boolean }): Promise<LabeledBatch> {
    let drawn;
    if (pass.train) {
      // Every draw from its own stream: the same mixtures whatever the batch size or rank it lands on.
      const random = new Random(this.settings.seed).fork(`remix:train:${pass.epoch}`);
      drawn = await this.train.render(keys.map((key) => this.train.task(random.fork(key))));
    } else {
      drawn = await this.validation.render(keys.map((i) => this.#valTasks[i]!));
    }
    const f = sampleFeaturesBatch(drawn.mixtures, drawn.sources, this.features, {
      threads: this.settings.threads ?? availableParallelism(),
    });
    return { mixture: f.mixture, sources: f.sources, labels: drawn.labels };
  }

  digest(): string {
    const hash = createHash("sha256");
    hash.update(JSON.stringify([this.pool.classes, this.settings, this.pool.heldOut]));
    for (const clip of this.pool.clips) hash.update(`${clip.key} ${clip.length}\n`);
    return hash.digest("hex").slice(0, 16);
  }

  async close(): Promise<void> {
    // Nothing runs in the background: the clips are freed with the feed.
  }
}
