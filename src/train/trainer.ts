/**
 * The trainer: the seed's 02.py (joint U-Net + ResNet, Adam, ReduceLROnPlateau, λ·ΣMSE + (1−λ)·ΣCE,
 * 8:2 split) with validation-driven scheduling, PIT, best/last checkpoints, exact resume, a feature
 * cache loaded on a worker thread, and a self-describing model folder (see src/model/folder.ts).
 *
 * A run is set up (setup.ts), then loops over epochs — training pass and validation pass (epoch.ts),
 * then the epoch's end here: its record, the best-epoch bookkeeping and the files.
 */
import { liveTensorCount, releaseFreeMemory } from "../engine/index.js";
import { writeCheckpoint } from "../model/checkpoint.js";
import { type EpochRecord, writeTrainLog, writeTrainMetrics, writeWeights } from "../model/folder.js";
import { disposeCheckpoint } from "../model/checkpoint.js";
import { DataParallel, type DistributedSettingsInput } from "./distributed.js";
import { type PassProgress, type PassSums, trainEpoch, type TrainPass, validateEpoch } from "./epoch.js";
import { DatasetFeed, type SplitSource } from "./feed.js";
import { closeRun, openRun, type Run, setupRun, type TrainInput } from "./setup.js";
import { lockFolder } from "../util/lock.js";

export type { EpochRecord } from "../model/folder.js";
export type { TrainInput } from "./setup.js";
export { TrainError } from "./errors.js";

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
  /**
   * This process's place in a data-parallel run of `worldSize` ranks (see distributed.ts): its
   * `rank` and rank 0's `masterAddr` / `masterPort`. Every rank calls train() with the same settings.
   */
  distributed?: DistributedSettingsInput;
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
  split: SplitSource;
  /** The feature cache of a train_data folder (absent for a clip library: nothing is cached). */
  cache?: { computed: number; hits: number; dir: string };
  /** Peak resident set size of the process, MiB. */
  peakRssMb: number;
  seconds: number;
  /** Ranks that trained together (1: this process alone). */
  worldSize: number;
}

/**
 * The seed's console line after each epoch, plus the named accuracy (predict's rule):
 * `Epoch 03 | Train Acc: 0.8125 | Test Acc: 0.7900 | LR: 0.001500 | Test Named: 0.9100`.
 */
export function formatEpochLine(r: EpochRecord): string {
  return `Epoch ${String(r.epoch).padStart(2, "0")} | Train Acc: ${r.trainAcc.toFixed(4)} | Test Acc: ${r.valAcc.toFixed(4)} | LR: ${r.lr.toPrecision(4)} | Test Named: ${r.valNamedAcc.toFixed(4)}`;
}

/**
 * Trains the joint model on a train_data folder and writes the model folder `config.out`.
 *
 * @param input training settings; see TrainConfigSchema for every field and its default
 * @returns what happened: epochs, best epoch and accuracy, the last epoch's record, why it stopped
 * @throws DataError for unusable data (missing/empty labels.txt, unknown labels, < 2 classes, missing
 *   audio); ParameterError for an invalid setting or a batch larger than the training set; TrainError
 *   for a folder holding another run, nothing to resume, or a non-finite loss (the last good
 *   checkpoint is kept)
 */
export async function train(input: TrainInput, options: TrainOptions = {}): Promise<TrainSummary> {
  const started = performance.now();
  const parallel = await DataParallel.join(input.worldSize, options.distributed);
  let summary: TrainSummary;
  try {
    summary = await trainRank(input, options, parallel, started);
  } catch (error) {
    await parallel?.close(error);
    throw error;
  }
  await parallel?.close();
  return summary;
}

/** {@link train} on this rank (rank 0 opens the run; the others take its config). */
async function trainRank(
  input: TrainInput,
  options: TrainOptions,
  parallel: DataParallel | null,
  started: number,
): Promise<TrainSummary> {
  // Rank 0 writes the folder: it holds the lock for the whole run, so a second run fails at once.
  const lock =
    (parallel?.writes ?? true) && typeof input.out === "string" && input.out !== ""
      ? lockFolder(input.out, "train", options.onWarning)
      : null;
  try {
    return await trainLocked(input, options, parallel, started);
  } finally {
    lock?.release();
  }
}

/** {@link trainRank} once the output folder is locked. */
async function trainLocked(
  input: TrainInput,
  options: TrainOptions,
  parallel: DataParallel | null,
  started: number,
): Promise<TrainSummary> {
  const start =
    parallel === null
      ? openRun(input)
      : await parallel.shareStart(
          input,
          () => openRun(input),
          (config, folder) => ({ config, folder, checkpoint: null }),
        );
  try {
    const epochs = start.config.epochs;
    const run = await setupRun(
      start,
      (done, total) => options.onProgress?.({ phase: "cache", epoch: 0, epochs, done, total }),
      options.onWarning ?? (() => undefined),
      parallel,
    );
    try {
      await parallel?.start(run);
      return await runEpochs(run, options, started);
    } finally {
      await closeRun(run);
    }
  } finally {
    if (start.checkpoint !== null) disposeCheckpoint(start.checkpoint);
  }
}

/** The epoch loop, from the first unfinished epoch until the last, an early stop, or an abort. */
async function runEpochs(run: Run, options: TrainOptions, started: number): Promise<TrainSummary> {
  const { config, state } = run;
  let stopReason: TrainSummary["stopReason"] = "epochs";
  let peakRss = 0;
  for (let epoch = state.epoch + 1; epoch <= config.epochs; epoch++) {
    const progress =
      (phase: "train" | "eval") =>
      (p: PassProgress): void =>
        options.onProgress?.({ phase, epoch, epochs: config.epochs, ...p });
    const pass = await trainEpoch(run, epoch, progress("train"), options.signal);
    if (pass.stopped === "aborted") {
      stopReason = "aborted";
      break;
    }
    const validation = await validateEpoch(run, epoch, progress("eval"));
    const record = await endEpoch(run, epoch, pass, validation);
    peakRss = Math.max(peakRss, record.rssMb);
    options.onEpoch?.(record);
    if (pass.stopped === "max-steps") {
      stopReason = "max-steps";
      break;
    }
    if (config.earlyStop !== undefined && state.sinceBest >= config.earlyStop) {
      stopReason = "early-stop";
      break;
    }
  }
  const last = state.history[state.history.length - 1] ?? null;
  return {
    out: run.out,
    epochs: last?.epoch ?? state.epoch,
    bestEpoch: state.bestEpoch,
    bestValAcc: Number.isFinite(state.bestValAcc) ? state.bestValAcc : 0,
    last,
    stopReason,
    classes: run.feed.classes,
    trainSamples: run.feed.trainSamples,
    testSamples: run.feed.testSamples,
    split: run.feed.split,
    ...(run.feed instanceof DatasetFeed
      ? { cache: { computed: run.feed.store.computed, hits: run.feed.store.hits, dir: run.feed.store.dir } }
      : {}),
    peakRssMb: Math.round(Math.max(peakRss, process.resourceUsage().maxRSS / 1024)),
    seconds: (performance.now() - started) / 1000,
    worldSize: run.config.worldSize,
  };
}

/** An epoch's record from its two passes. */
function epochRecord(
  run: Run,
  epoch: number,
  pass: TrainPass,
  validation: { sums: PassSums; seconds: number },
  best: boolean,
): EpochRecord {
  const k = run.feed.sources;
  const t = pass.sums;
  const v = validation.sums;
  return {
    epoch,
    trainLoss: t.total / t.samples,
    trainSepLoss: t.sep / t.samples,
    trainClsLoss: t.cls / t.samples,
    trainSepMse: t.sep / t.samples / k,
    trainAcc: t.correct / (t.samples * k),
    valLoss: v.total / v.samples,
    valSepLoss: v.sep / v.samples,
    valClsLoss: v.cls / v.samples,
    valSepMse: v.sep / v.samples / k,
    valAcc: v.correct / (v.samples * k),
    valNamedAcc: v.named / (v.samples * k),
    lr: run.config.schedule === "cosine" ? run.optimizer.lr : pass.lr,
    steps: pass.steps,
    trainSeconds: pass.seconds,
    valSeconds: validation.seconds,
    loaderWaitSeconds: pass.loaderWaitSeconds,
    samplesPerSecond: t.samples / pass.seconds,
    best,
    rssMb: 0,
    liveTensors: 0,
    worldSize: run.config.worldSize,
  };
}

/**
 * The end of an epoch: the scheduler steps on the validation loss, the best epoch (by validation
 * accuracy) is tracked, the record is made and every file of the epoch is written.
 */
async function endEpoch(
  run: Run,
  epoch: number,
  pass: TrainPass,
  validation: { sums: PassSums; seconds: number },
): Promise<EpochRecord> {
  const { state } = run;
  await run.parallel?.checkInSync(run.model, epoch);
  const v = validation.sums;
  if (run.config.schedule === "plateau") run.scheduler.step(v.total / v.samples);
  const valAcc = v.correct / (v.samples * run.feed.sources);
  const best = valAcc > state.bestValAcc;
  if (best) {
    state.bestValAcc = valAcc;
    state.bestEpoch = epoch;
    state.sinceBest = 0;
  } else {
    state.sinceBest++;
  }
  releaseFreeMemory(); // the allocator's cached blocks back to the OS once per epoch (see engine)
  const record = epochRecord(run, epoch, pass, validation, best);
  record.rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
  record.liveTensors = liveTensorCount();
  state.epoch = epoch;
  state.history = [...state.history, record];
  await saveEpoch(run, record);
  return record;
}

/**
 * An epoch's files, in commit order: the best weights, then the checkpoint (the commit point: a run
 * resumes from it), then the readable ones (last weights, train log, metrics).
 */
async function saveEpoch(run: Run, record: EpochRecord): Promise<void> {
  if (!(run.parallel?.writes ?? true)) return;
  const { state, out, optimizer } = run;
  const modelState = run.model.stateDict();
  if (record.best) await writeWeights(out, "weights", modelState, record.epoch);
  await writeCheckpoint(
    out,
    {
      formatVersion: 1,
      epoch: record.epoch,
      globalStep: state.globalStep,
      config: { ...run.config },
      optimizer: optimizer.stateDict().hyper,
      scheduler: run.scheduler.stateDict(),
      bestEpoch: state.bestEpoch,
      bestValAcc: state.bestValAcc,
      epochsWithoutImprovement: state.sinceBest,
      history: state.history,
    },
    modelState,
    optimizer.stateDict().tensors,
  );
  await writeWeights(out, "last", modelState, record.epoch);
  await writeTrainLog(out, state.history);
  const bestRecord = state.history.find((r) => r.epoch === state.bestEpoch)!;
  await writeTrainMetrics(out, {
    epochs: record.epoch,
    bestEpoch: state.bestEpoch,
    valAccuracy: bestRecord.valAcc,
    valSeparationMse: bestRecord.valSepMse,
    valLoss: bestRecord.valLoss,
    last: {
      epoch: record.epoch,
      valAccuracy: record.valAcc,
      valSeparationMse: record.valSepMse,
      valLoss: record.valLoss,
    },
    classes: run.feed.classes,
    trainSamples: run.feed.trainSamples,
    testSamples: run.feed.testSamples,
    split: run.feed.split,
  });
}
