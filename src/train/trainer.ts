/**
 * The trainer: the seed's 02.py (joint U-Net + ResNet, Adam, ReduceLROnPlateau, λ·ΣMSE + (1−λ)·ΣCE,
 * 8:2 split) with validation-driven scheduling, PIT, best/last checkpoints, exact resume, a feature
 * cache loaded on a worker thread, and a self-describing model folder (see src/model/folder.ts).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import {
  Adam,
  decodeSafetensors,
  dispose,
  cpuHasNativeBf16,
  cudaAvailable,
  encodeSafetensors,
  F,
  liveTensorCount,
  manualSeed,
  noGrad,
  ReduceLROnPlateau,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  withAutocast,
  releaseFreeMemory,
} from "../engine/index.js";
import { StemscopeError, UsageError } from "../errors.js";
import { BatchLoader, buildFeatureCache, type FeatureBatch, type FeatureStore } from "../data/cache.js";
import {
  labelIndices,
  readTrainData,
  splitTrainData,
  type DataSplit,
  type TrainData,
} from "../data/dataset.js";
import { type FeatureConfig, FeatureConfigSchema } from "../features/config.js";
import { MODEL_FORMAT_VERSION, type ModelFolderConfig, readModelConfig } from "../model/folder.js";
import { JointModel, type JointModelConfig, jointLoss, referenceClassLoss } from "../model/joint.js";
import { matchedLabels, namedClasses } from "../separator/naming.js";
import { permuteToSources } from "../separator/pit.js";
import { presetConfig } from "../model/presets.js";
import { writeFileAtomic } from "../util/atomic.js";
import { Random } from "../util/random.js";
import { augmentBatch, DEFAULT_AUGMENT } from "./augment.js";
import { type TrainConfig, type TrainConfigInput, TrainConfigSchema } from "./config.js";

/**
 * What {@link train} takes: a full config input, or `{ out, resume: true }` plus the settings a
 * resumed run may change (epochs, earlyStop, threads, maxSteps, cacheDir, cacheJobs, data).
 */
export type TrainInput = TrainConfigInput | (Partial<TrainConfigInput> & { out: string; resume: true });

/** Training could not start or had to stop; the message says why and what to do. */
export class TrainError extends StemscopeError {}

/** One epoch's numbers (one line of train_log.jsonl). Losses are means over samples. */
export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** λ·L_sep + (1 − λ)·L_cls, L_sep = Σ_k MSE_k, L_cls = Σ_k CE_k. */
  trainLoss: number;
  trainSepLoss: number;
  trainClsLoss: number;
  /** Mean squared error per spectrogram value (L_sep / K). */
  trainSepMse: number;
  /** Per-source classification accuracy in [0, 1]. */
  trainAcc: number;
  valLoss: number;
  valSepLoss: number;
  valClsLoss: number;
  valSepMse: number;
  valAcc: number;
  /**
   * Share of validation sources named correctly by predict's rule (the K classes of highest play
   * probability, order-free; see namedClasses in src/eval/metrics.ts).
   */
  valNamedAcc: number;
  /** The learning rate used during this epoch. */
  lr: number;
  steps: number;
  trainSeconds: number;
  valSeconds: number;
  /** Seconds the training loop waited for the batch loader this epoch. */
  loaderWaitSeconds: number;
  /** Training samples per second (steps only, loader waits included). */
  samplesPerSecond: number;
  /** True when this epoch's weights became weights.safetensors. */
  best: boolean;
  /** Resident set size after the epoch, MiB. */
  rssMb: number;
  /** Native tensors alive after the epoch (constant across epochs when nothing leaks). */
  liveTensors: number;
}

/** Progress events: `cache` while computing features, `train`/`eval` per batch. */
export interface TrainProgress {
  phase: "cache" | "train" | "eval";
  /** 1-based epoch (0 during `cache`). */
  epoch: number;
  epochs: number;
  /** Samples done in this phase of this epoch, and their total. */
  done: number;
  total: number;
  /** Running means over the epoch so far (train / eval). */
  loss?: number;
  acc?: number;
  samplesPerSecond?: number;
}

export interface TrainOptions {
  onProgress?: (event: TrainProgress) => void;
  /** After each epoch, once its checkpoint is written. */
  onEpoch?: (record: EpochRecord) => void;
  /** Non-fatal notices (a leaky split, a resumed run). */
  onWarning?: (message: string) => void;
  /** Aborting stops after the current step; the last finished epoch's checkpoint stays. */
  signal?: AbortSignal;
}

export interface TrainSummary {
  out: string;
  /** Epochs finished in total (a resumed run counts the earlier ones). */
  epochs: number;
  /** Epoch whose weights are in weights.safetensors. */
  bestEpoch: number;
  bestValAcc: number;
  /** The last finished epoch (null when none finished, e.g. aborted in the first). */
  last: EpochRecord | null;
  stopReason: "epochs" | "early-stop" | "max-steps" | "aborted";
  classes: string[];
  trainSamples: number;
  testSamples: number;
  split: DataSplit["source"];
  cache: { computed: number; hits: number; dir: string };
  /** Peak resident set size of the process, MiB. */
  peakRssMb: number;
  seconds: number;
}

/** What a checkpoint stores besides tensors (checkpoint.json, and the metadata of checkpoint.safetensors). */
interface CheckpointState {
  formatVersion: 1;
  /** Finished epochs. */
  epoch: number;
  globalStep: number;
  config: TrainConfig;
  optimizer: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number };
  scheduler: { best: number; numBadEpochs: number; cooldownCounter: number; lastEpoch: number };
  bestEpoch: number;
  bestValAcc: number;
  epochsWithoutImprovement: number;
  history: EpochRecord[];
}

/** JSON with ±Infinity and NaN kept (as the strings "Infinity", "-Infinity", "NaN"). */
function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
    indent,
  );
}
function fromJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) =>
    v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v === "NaN" ? NaN : v,
  ) as T;
}

/**
 * The seed's console line after each epoch, plus the named accuracy (predict's rule):
 * `Epoch 03 | Train Acc: 0.8125 | Test Acc: 0.7900 | LR: 0.001500 | Test Named: 0.9100`.
 */
export function formatEpochLine(r: EpochRecord): string {
  return `Epoch ${String(r.epoch).padStart(2, "0")} | Train Acc: ${r.trainAcc.toFixed(4)} | Test Acc: ${r.valAcc.toFixed(4)} | LR: ${r.lr.toPrecision(4)} | Test Named: ${r.valNamedAcc.toFixed(4)}`;
}

function parseConfig(input: TrainConfigInput): TrainConfig {
  const parsed = TrainConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`training config: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** The preset's model config with the `--unet-output`, `--unet-skips` and `--classifier-input` overrides applied. */
function withModelOverrides(model: JointModelConfig, config: TrainConfig): JointModelConfig {
  return {
    ...model,
    unet: {
      ...model.unet,
      ...(config.unetOutput === undefined ? {} : { output: config.unetOutput }),
      ...(config.unetSkips === undefined ? {} : { skips: config.unetSkips }),
    },
    ...(config.classifierInput === undefined ? {} : { classifierInput: config.classifierInput }),
  };
}

/** The libtorch seed of an epoch (dropout), derived so a resumed epoch draws the same masks. */
function torchSeed(seed: number, epoch: number): number {
  return new Random(seed).fork(`train:torch:${epoch}`).uint32();
}

/** Fields a resumed run may change; everything else comes from the checkpoint. */
const RESUMABLE_OVERRIDES = [
  "epochs",
  "earlyStop",
  "threads",
  "maxSteps",
  "cacheDir",
  "cacheJobs",
  "data",
] as const;

function readCheckpoint(out: string): { state: CheckpointState; tensors: Map<string, Tensor> } | null {
  const path = join(out, "checkpoint.safetensors");
  if (!existsSync(path)) return null;
  const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
  const text = metadata.state;
  if (text === undefined) {
    dispose([...tensors.values()]);
    throw new TrainError(`${path}: has no training state; it was not written by \`stemscope train\``);
  }
  return { state: fromJson<CheckpointState>(text), tensors };
}

/**
 * Trains the joint model on a train_data folder and writes the model folder `config.out`.
 *
 * @param input training settings; see {@link TrainConfigSchema} for every field and its default
 * @returns what happened: epochs, best epoch and accuracy, the last epoch's record, why it stopped
 * @throws DataError for unusable data (missing/empty labels.txt, unknown labels, < 2 classes, missing
 *   audio); TrainError for a batch larger than the training set, a folder holding another run, nothing
 *   to resume, or a non-finite loss (the last good checkpoint is kept)
 */
export async function train(input: TrainInput, options: TrainOptions = {}): Promise<TrainSummary> {
  const started = performance.now();
  const warn = options.onWarning ?? (() => undefined);
  let config: TrainConfig;

  // ---- resume or fresh start
  let checkpoint: { state: CheckpointState; tensors: Map<string, Tensor> } | null = null;
  let folder: ModelFolderConfig | null = null;
  if (input.resume === true) {
    const out = input.out;
    if (typeof out !== "string" || out === "")
      throw new UsageError("resume: the run folder (--out) is required");
    checkpoint = readCheckpoint(out);
    if (checkpoint === null) {
      throw new TrainError(
        `${join(out, "checkpoint.safetensors")}: not found; there is no run to resume in ${out}`,
      );
    }
    try {
      folder = readModelConfig(out);
    } catch (error) {
      dispose([...checkpoint.tensors.values()]);
      throw error;
    }
    const overrides: Record<string, unknown> = {};
    for (const key of RESUMABLE_OVERRIDES) {
      const value = (input as Record<string, unknown>)[key];
      if (value !== undefined) overrides[key] = value;
    }
    config = parseConfig({ ...checkpoint.state.config, ...overrides, resume: true, out });
  } else {
    config = parseConfig(input as TrainConfigInput);
    if (
      existsSync(join(config.out, "checkpoint.safetensors")) ||
      existsSync(join(config.out, "config.json"))
    ) {
      throw new TrainError(
        `${config.out}: already holds a training run; use --resume to continue it, or choose another --out`,
      );
    }
  }
  const tensorsToFree: Tensor[] = checkpoint === null ? [] : [...checkpoint.tensors.values()];
  try {
    return await run(
      config,
      folder,
      checkpoint?.state ?? null,
      checkpoint?.tensors ?? null,
      options,
      warn,
      started,
    );
  } finally {
    dispose(tensorsToFree);
  }
}

async function run(
  config: TrainConfig,
  folder: ModelFolderConfig | null,
  resumed: CheckpointState | null,
  resumedTensors: Map<string, Tensor> | null,
  options: TrainOptions,
  warn: (message: string) => void,
  started: number,
): Promise<TrainSummary> {
  const out = config.out;
  setNumThreads(config.threads ?? availableParallelism());

  // ---- data
  const data: TrainData = readTrainData(config.data, folder === null ? {} : { classes: folder.classes });
  const split = splitTrainData(data, config.split, { seed: config.seed, testFraction: config.testFraction });
  if (split.source === "random") {
    warn(
      "--split random: samples are split at random as the seed did, so the same source clips appear in train and test; test accuracy will be optimistic",
    );
  } else if (split.source === "seeded") {
    warn(
      `${join(data.dir, "split.json")} not found: using a seeded per-sample ${Math.round((1 - config.testFraction) * 10)}:${Math.round(config.testFraction * 10)} split`,
    );
  }
  if (config.batchSize > split.train.length) {
    throw new TrainError(
      `--batch-size ${config.batchSize} is larger than the ${split.train.length} training samples of ${data.dir}; use --batch-size ${split.train.length} or less, or add data`,
    );
  }
  if (config.bf16 && !cudaAvailable() && cpuHasNativeBf16() === false) {
    warn(
      "--bf16: this CPU has no native bfloat16 (no avx512_bf16 / amx_bf16 flag), so bf16 is emulated and training runs many times slower than float32 (1.2 vs 14.9 samples/s measured on an AVX2-only CPU); drop --bf16 here",
    );
  }
  const features: FeatureConfig =
    folder?.features ??
    FeatureConfigSchema.parse({ mode: config.featureMode, ...(data.audio === null ? {} : data.audio) });
  const epochs = config.epochs;
  // The loader thread starts now, so it has booted by the first batch.
  const loader = new BatchLoader({ planes: 1 + data.sources, rows: features.nMels, cols: features.size });
  let store: FeatureStore;
  try {
    options.onProgress?.({ phase: "cache", epoch: 0, epochs, done: 0, total: data.samples.length });
    store = await buildFeatureCache(data.samples, features, {
      cacheDir: config.cacheDir ?? join(data.dir, ".stemscope-cache"),
      ...(config.cacheJobs === undefined ? {} : { jobs: config.cacheJobs }),
      onProgress: (done, total) => options.onProgress?.({ phase: "cache", epoch: 0, epochs, done, total }),
    });
  } catch (error) {
    await loader.close();
    throw error;
  }
  const labelsOf = data.samples.map((s) => labelIndices(data, s));
  const k = data.sources;
  const [rows, cols] = [store.rows, store.cols];

  // ---- model, optimizer, scheduler
  manualSeed(config.seed);
  const modelConfig =
    folder?.model ?? withModelOverrides(presetConfig(config.preset, data.classes.length, k), config);
  const model = new JointModel(modelConfig).toChannelsLast();
  const optimizer = new Adam(model.parameters(), { lr: config.lr, weightDecay: config.weightDecay });
  const scheduler = new ReduceLROnPlateau(optimizer, {
    mode: "min",
    patience: config.plateauPatience,
    factor: config.plateauFactor,
  });
  try {
    let startEpoch = 0;
    let globalStep = 0;
    let bestEpoch = 0;
    let bestValAcc = -Infinity;
    let sinceBest = 0;
    let history: EpochRecord[] = [];
    if (resumed !== null && resumedTensors !== null) {
      const pick = (prefix: string): Map<string, Tensor> =>
        new Map(
          [...resumedTensors]
            .filter(([n]) => n.startsWith(prefix))
            .map(([n, t]) => [n.slice(prefix.length), t]),
        );
      model.loadStateDict(pick("model."));
      optimizer.loadStateDict({ kind: "adam", hyper: resumed.optimizer, tensors: pick("optimizer.") });
      scheduler.loadStateDict(resumed.scheduler);
      // Everything was copied into the model and optimizer: free the loaded copies now, not at the end.
      dispose([...resumedTensors.values()]);
      startEpoch = resumed.epoch;
      globalStep = resumed.globalStep;
      bestEpoch = resumed.bestEpoch;
      bestValAcc = resumed.bestValAcc;
      sinceBest = resumed.epochsWithoutImprovement;
      history = resumed.history;
      warn(`resuming ${out} after epoch ${startEpoch} of ${epochs}`);
    } else {
      mkdirSync(out, { recursive: true });
      const folderConfig: ModelFolderConfig = {
        formatVersion: MODEL_FORMAT_VERSION,
        model: modelConfig,
        features,
        classes: data.classes,
        training: {
          ...config,
          data: data.dir,
          sources: k,
          split: {
            mode: config.split,
            source: split.source,
            train: split.train.length,
            test: split.test.length,
          },
        },
      };
      await writeFileAtomic(join(out, "config.json"), `${toJson(folderConfig, 2)}\n`);
    }

    const batchOf = (indices: number[]): string[] => indices.map((i) => store.entries[i]!);
    const labelTensor = (indices: number[]): Tensor =>
      tensor(
        BigInt64Array.from(
          indices.flatMap((i) => labelsOf[i]!),
          (v) => BigInt(v),
        ),
        [indices.length, k],
      );
    const inputs = (batch: FeatureBatch, b: number): { mixture: Tensor; sources: Tensor } => ({
      mixture: tensor(batch.mixture, [b, 1, rows, cols]).contiguous("channels_last"),
      sources: tensor(batch.sources, [b, k, rows, cols]),
    });
    /** Runs `fn` under bf16 autocast when --bf16 is set. */
    const autocast = <T>(fn: () => T): T => (config.bf16 ? withAutocast(fn) : fn());
    /** Losses and correct count of one batch; the total keeps its graph when `backward` is set. */
    const evaluate = (batch: FeatureBatch, indices: number[], backward: boolean) => {
      // Only the loss tensor leaves the scope: every other activation is released as soon as the
      // forward pass is done with it, and the saved ones while backward runs (PyTorch's lifetimes).
      const r = tidy(() => {
        const { mixture, sources } = inputs(batch, indices.length);
        const labels = labelTensor(indices);
        let output = autocast(() => model.forward(mixture));
        if (config.pit) output = permuteToSources(output, sources).output;
        const loss = jointLoss(output, sources, labels, config.lossWeight);
        const correct = output.logits.argmax(2).eq(labels).sum().item();
        const named = backward
          ? 0
          : namedCorrect(F.softmax(output.logits.float(), 2).toFloat32Array(), indices);
        // The reported losses stay the seed's; the reference term only shapes the gradient.
        const reference =
          backward && config.referenceWeight > 0
            ? autocast(() => referenceClassLoss(model, sources, labels, mixture)).mul(
                (1 - config.lossWeight) * config.referenceWeight,
              )
            : null;
        return {
          loss: reference === null ? loss.total : loss.total.add(reference),
          total: loss.total.item(),
          sep: loss.separation.item(),
          cls: loss.classification.item(),
          correct,
          named,
        };
      });
      if (backward && Number.isFinite(r.total)) r.loss.backward();
      r.loss.dispose();
      return { total: r.total, sep: r.sep, cls: r.cls, correct: r.correct, named: r.named };
    };
    /** Sources named correctly by predict's rule in a batch; probs [batch, K, classes] softmax. */
    const namedCorrect = (probs: Float32Array, indices: number[]): number => {
      const c = data.classes.length;
      let sum = 0;
      indices.forEach((sample, i) => {
        sum += matchedLabels(
          namedClasses(probs.subarray(i * k * c, (i + 1) * k * c), k, c),
          labelsOf[sample]!,
        );
      });
      return sum;
    };

    const stepsPerEpoch = Math.ceil(split.train.length / config.batchSize);
    const totalSteps = stepsPerEpoch * epochs;
    const warm = Math.floor(config.warmup * totalSteps);
    /** The cosine schedule's rate before optimizer step number `step` (0-based). */
    const cosineLr = (step: number): number => {
      if (step < warm) return (config.lr * (step + 1)) / warm;
      const progress = Math.min(1, (step - warm) / Math.max(1, totalSteps - warm));
      return config.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    };

    const batches = (indices: number[]): number[][] => {
      const list: number[][] = [];
      for (let i = 0; i < indices.length; i += config.batchSize)
        list.push(indices.slice(i, i + config.batchSize));
      return list;
    };

    const augmentRandom = new Random(config.seed).fork("train:augment");
    let stopReason: TrainSummary["stopReason"] = "epochs";
    let peakRss = 0;
    const lastRecord = (): EpochRecord | null => history[history.length - 1] ?? null;
    for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
      // ---- train
      manualSeed(torchSeed(config.seed, epoch));
      const order = new Random(config.seed).fork(`train:shuffle:${epoch}`).shuffle(split.train.slice());
      const trainBatches = batches(order);
      const lr = optimizer.lr;
      model.train();
      let seen = 0;
      let sums = { total: 0, sep: 0, cls: 0, correct: 0 };
      let wait = 0;
      let steps = 0;
      const t0 = performance.now();
      let next: Promise<FeatureBatch> | null = loader.load(batchOf(trainBatches[0]!));
      for (let bi = 0; bi < trainBatches.length; bi++) {
        if (options.signal?.aborted === true) {
          stopReason = "aborted";
          break;
        }
        const indices = trainBatches[bi]!;
        const w0 = performance.now();
        const batch: FeatureBatch = await next!;
        wait += performance.now() - w0;
        next = bi + 1 < trainBatches.length ? loader.load(batchOf(trainBatches[bi + 1]!)) : null;
        if (config.augment) {
          augmentBatch(
            batch.mixture,
            batch.sources,
            { batch: indices.length, k, rows, cols },
            { ...DEFAULT_AUGMENT, topDb: features.topDb },
            augmentRandom.fork(`${epoch}:${bi}`),
          );
        }
        optimizer.zeroGrad();
        const r = evaluate(batch, indices, true);
        if (!Number.isFinite(r.total)) {
          optimizer.zeroGrad();
          const kept = lastRecord();
          throw new TrainError(
            `the loss became ${r.total} at epoch ${epoch}, step ${bi + 1}; training stopped. ` +
              (kept === null
                ? `No epoch had finished, so ${out} has no checkpoint. `
                : `${out} keeps the last good checkpoint (epoch ${kept.epoch}). `) +
              `Try a lower --lr${config.bf16 ? " or train without --bf16" : ""}.`,
          );
        }
        if (config.schedule === "cosine") optimizer.lr = cosineLr(globalStep);
        optimizer.step();
        steps++;
        globalStep++;
        seen += indices.length;
        sums = {
          total: sums.total + r.total * indices.length,
          sep: sums.sep + r.sep * indices.length,
          cls: sums.cls + r.cls * indices.length,
          correct: sums.correct + r.correct,
        };
        const seconds = (performance.now() - t0) / 1000;
        options.onProgress?.({
          phase: "train",
          epoch,
          epochs,
          done: seen,
          total: order.length,
          loss: sums.total / seen,
          acc: sums.correct / (seen * k),
          samplesPerSecond: seen / seconds,
        });
        if (config.maxSteps !== undefined && globalStep >= config.maxSteps) {
          stopReason = "max-steps";
          break;
        }
      }
      if (next !== null) await next.catch(() => undefined);
      const trainSeconds = (performance.now() - t0) / 1000;
      if (stopReason === "aborted") break;

      // ---- validate
      const v0 = performance.now();
      model.eval();
      let vSeen = 0;
      let vSums = { total: 0, sep: 0, cls: 0, correct: 0, named: 0 };
      const testBatches = batches(split.test);
      let vNext: Promise<FeatureBatch> | null = loader.load(batchOf(testBatches[0]!));
      for (let bi = 0; bi < testBatches.length; bi++) {
        const indices = testBatches[bi]!;
        const batch: FeatureBatch = await vNext!;
        vNext = bi + 1 < testBatches.length ? loader.load(batchOf(testBatches[bi + 1]!)) : null;
        const r = noGrad(() => evaluate(batch, indices, false));
        vSeen += indices.length;
        vSums = {
          total: vSums.total + r.total * indices.length,
          sep: vSums.sep + r.sep * indices.length,
          cls: vSums.cls + r.cls * indices.length,
          correct: vSums.correct + r.correct,
          named: vSums.named + r.named,
        };
        options.onProgress?.({
          phase: "eval",
          epoch,
          epochs,
          done: vSeen,
          total: split.test.length,
          loss: vSums.total / vSeen,
          acc: vSums.correct / (vSeen * k),
        });
      }
      model.train();
      const valSeconds = (performance.now() - v0) / 1000;
      const valLoss = vSums.total / vSeen;
      if (!Number.isFinite(valLoss)) {
        const kept = lastRecord();
        throw new TrainError(
          `the validation loss became ${valLoss} after epoch ${epoch}; training stopped. ` +
            (kept === null
              ? `${out} has no checkpoint yet. `
              : `${out} keeps the last good checkpoint (epoch ${kept.epoch}). `) +
            `Try a lower --lr.`,
        );
      }
      if (config.schedule === "plateau") scheduler.step(valLoss);
      const valAcc = vSums.correct / (vSeen * k);
      const best = valAcc > bestValAcc;
      if (best) {
        bestValAcc = valAcc;
        bestEpoch = epoch;
        sinceBest = 0;
      } else {
        sinceBest++;
      }
      releaseFreeMemory(); // the allocator's cached blocks back to the OS once per epoch (see engine)
      const rss = process.memoryUsage().rss / 2 ** 20;
      peakRss = Math.max(peakRss, rss);
      const record: EpochRecord = {
        epoch,
        trainLoss: sums.total / seen,
        trainSepLoss: sums.sep / seen,
        trainClsLoss: sums.cls / seen,
        trainSepMse: sums.sep / seen / k,
        trainAcc: sums.correct / (seen * k),
        valLoss,
        valSepLoss: vSums.sep / vSeen,
        valClsLoss: vSums.cls / vSeen,
        valSepMse: vSums.sep / vSeen / k,
        valAcc,
        valNamedAcc: vSums.named / (vSeen * k),
        lr: config.schedule === "cosine" ? optimizer.lr : lr,
        steps,
        trainSeconds,
        valSeconds,
        loaderWaitSeconds: wait / 1000,
        samplesPerSecond: seen / trainSeconds,
        best,
        rssMb: Math.round(rss),
        liveTensors: liveTensorCount(),
      };
      history = [...history, record];

      // ---- save: best weights, then the checkpoint (the commit point), then the readable files
      const modelState = model.stateDict();
      if (best)
        await writeFileAtomic(
          join(out, "weights.safetensors"),
          encodeSafetensors(modelState, { epoch: String(epoch) }),
        );
      const state: CheckpointState = {
        formatVersion: 1,
        epoch,
        globalStep,
        config,
        optimizer: optimizer.stateDict().hyper,
        scheduler: scheduler.stateDict(),
        bestEpoch,
        bestValAcc,
        epochsWithoutImprovement: sinceBest,
        history,
      };
      const ckptTensors = new Map<string, Tensor>();
      for (const [n, t] of modelState) ckptTensors.set(`model.${n}`, t);
      for (const [n, t] of optimizer.stateDict().tensors) ckptTensors.set(`optimizer.${n}`, t);
      await writeFileAtomic(
        join(out, "checkpoint.safetensors"),
        encodeSafetensors(ckptTensors, { state: toJson(state) }),
      );
      await writeFileAtomic(
        join(out, "last.safetensors"),
        encodeSafetensors(modelState, { epoch: String(epoch) }),
      );
      const { history: _h, ...stateWithoutHistory } = state;
      await writeFileAtomic(join(out, "checkpoint.json"), `${toJson(stateWithoutHistory, 2)}\n`);
      await writeFileAtomic(join(out, "train_log.jsonl"), history.map((r) => toJson(r)).join("\n") + "\n");
      const bestRecord = history.find((r) => r.epoch === bestEpoch)!;
      await writeFileAtomic(
        join(out, "metrics.json"),
        `${toJson(
          {
            epochs: epoch,
            bestEpoch,
            valAccuracy: bestRecord.valAcc,
            valSeparationMse: bestRecord.valSepMse,
            valLoss: bestRecord.valLoss,
            last: { epoch, valAccuracy: valAcc, valSeparationMse: record.valSepMse, valLoss },
            classes: data.classes,
            trainSamples: split.train.length,
            testSamples: split.test.length,
            split: split.source,
            featureMode: features.mode,
            pit: config.pit,
          },
          2,
        )}\n`,
      );
      options.onEpoch?.(record);

      if (stopReason === "max-steps") break;
      if (config.earlyStop !== undefined && sinceBest >= config.earlyStop) {
        stopReason = "early-stop";
        break;
      }
    }
    const last = lastRecord();
    return {
      out,
      epochs: last?.epoch ?? startEpoch,
      bestEpoch,
      bestValAcc: Number.isFinite(bestValAcc) ? bestValAcc : 0,
      last,
      stopReason,
      classes: data.classes,
      trainSamples: split.train.length,
      testSamples: split.test.length,
      split: split.source,
      cache: { computed: store.computed, hits: store.hits, dir: store.dir },
      peakRssMb: Math.round(Math.max(peakRss, process.resourceUsage().maxRSS / 1024)),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await loader.close();
    optimizer.dispose();
    model.dispose();
  }
}
