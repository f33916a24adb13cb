/**
 * One epoch of a run: the training pass (shuffled batches, augmentation, loss, optimizer step,
 * learning-rate schedule) and the validation pass, each reading its batches from the loader thread
 * one batch ahead.
 */
import { F, manualSeed, noGrad, tensor, tidy, withAutocast } from "../engine/index.js";
import { jointLoss } from "../model/joint.js";
import { matchedLabels, namedClasses } from "../separator/naming.js";
import { permuteToSources } from "../separator/pit.js";
import { Random } from "../util/random.js";
import { augmentBatch, augmentedCopies, DEFAULT_AUGMENT, REFERENCE_AUGMENT } from "./augment.js";
import { TrainError } from "./errors.js";
import type { LabeledBatch } from "./feed.js";
import { type Run, settlePrecision } from "./setup.js";

/** Progress of one pass: samples done of the total, with running means. */
export interface PassProgress {
  done: number;
  total: number;
  loss: number;
  acc: number;
  samplesPerSecond: number;
}

/** Sums over the samples of a pass (losses weighted by batch size). */
export interface PassSums {
  samples: number;
  total: number;
  sep: number;
  cls: number;
  /** Sources classified right (argmax, fixed order). */
  correct: number;
  /** Sources named right by predict's rule (validation only). */
  named: number;
}

/** The training pass of one epoch. */
export interface TrainPass {
  sums: PassSums;
  steps: number;
  /** The learning rate the epoch started with. */
  lr: number;
  seconds: number;
  loaderWaitSeconds: number;
  /** Why it ended before its last batch, if it did. */
  stopped: "aborted" | "max-steps" | null;
}

const emptySums = (): PassSums => ({ samples: 0, total: 0, sep: 0, cls: 0, correct: 0, named: 0 });

/** The libtorch seed of an epoch (dropout), derived so a resumed epoch draws the same masks. */
function torchSeed(seed: number, epoch: number): number {
  return new Random(seed).fork(`train:torch:${epoch}`).uint32();
}

/** The cosine schedule's rate before optimizer step number `step` (0-based): warm-up, then decay to 0. */
export function cosineLr(lr: number, warmup: number, totalSteps: number, step: number): number {
  const warm = Math.floor(warmup * totalSteps);
  if (step < warm) return (lr * (step + 1)) / warm;
  const progress = Math.min(1, (step - warm) / Math.max(1, totalSteps - warm));
  return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Losses and counts of one batch, in bf16 autocast or float32 (the run's choice unless `bf16` says).
 * With `backward`, gradients of the objective are accumulated (the caller zeroes them and steps the
 * optimizer) and the named count is skipped; without, only the numbers are computed (call under
 * noGrad).
 */
function batchStep(
  run: Run,
  batch: LabeledBatch,
  backward: boolean,
  bf16 = run.config.bf16,
  references?: { mixture: Float32Array; sources: Float32Array },
): PassSums {
  const { config, model, feed } = run;
  const k = feed.sources;
  const c = feed.classes.length;
  const autocast = <T>(fn: () => T): T => (bf16 ? withAutocast(fn) : fn());
  // Only the objective leaves the scope: every other activation is released as soon as the forward
  // pass is done with it, and the saved ones while backward runs (PyTorch's lifetimes).
  const r = tidy(() => {
    const n = batch.labels.length;
    // The planes of a batch (or of its augmented references) as the model takes them.
    const planes = (data: { mixture: Float32Array; sources: Float32Array }) => ({
      mixture: tensor(data.mixture, [n, 1, feed.rows, feed.cols]).contiguous("channels_last"),
      sources: tensor(data.sources, [n, k, feed.rows, feed.cols]),
    });
    const { mixture, sources } = planes(batch);
    const labels = tensor(
      BigInt64Array.from(batch.labels.flat(), (v) => BigInt(v)),
      [n, k],
    );
    let output = autocast(() => model.forward(mixture));
    if (config.pit) {
      // the order with the least separation loss, by that loss's own terms
      const shares = config.separationLoss === "shares" ? { mixture, topDb: run.features.topDb } : undefined;
      output = permuteToSources(output, sources, shares).output;
    }
    // The reference term only shapes the gradient: the reported losses stay the seed's.
    const referenceLogits =
      backward && config.referenceWeight > 0
        ? autocast(() => {
            const seen = references === undefined ? { mixture, sources } : planes(references);
            return model.classifySources(seen.sources, seen.mixture);
          })
        : undefined;
    const loss = jointLoss(
      output,
      { sources, labels, mixture, ...(referenceLogits === undefined ? {} : { referenceLogits }) },
      { ...config, topDb: run.features.topDb },
    );
    let named = 0;
    if (!backward) {
      const probs = F.softmax(output.logits.float(), 2).toFloat32Array();
      batch.labels.forEach((labelsOfSample, i) => {
        named += matchedLabels(
          namedClasses(probs.subarray(i * k * c, (i + 1) * k * c), k, c),
          labelsOfSample,
        );
      });
    }
    return {
      objective: loss.objective,
      sums: {
        samples: n,
        total: loss.total.item() * n,
        sep: loss.separation.item() * n,
        cls: loss.classification.item() * n,
        correct: output.logits.argmax(2).eq(labels).sum().item(),
        named,
      },
    };
  });
  if (backward && Number.isFinite(r.sums.total)) r.objective.backward();
  r.objective.dispose();
  return r.sums;
}

/** A pass's progress so far: `sums` of `total` samples of K sources, started at `t0` (ms). */
function passProgress(sums: PassSums, total: number, k: number, t0: number): PassProgress {
  return {
    done: sums.samples,
    total,
    loss: sums.total / sums.samples,
    acc: sums.correct / (sums.samples * k),
    samplesPerSecond: sums.samples / ((performance.now() - t0) / 1000),
  };
}

function addSums(a: PassSums, b: PassSums): PassSums {
  return {
    samples: a.samples + b.samples,
    total: a.total + b.total,
    sep: a.sep + b.sep,
    cls: a.cls + b.cls,
    correct: a.correct + b.correct,
    named: a.named + b.named,
  };
}

/**
 * The message of a non-finite loss: what happened where, and what the folder keeps. `bf16`: whether
 * the diverging pass ran in bfloat16 (during `bf16` auto's trial a step may, while the config reads
 * false until the trial decides).
 */
function divergedMessage(run: Run, what: string, bf16 = run.config.bf16): string {
  const kept = run.state.history[run.state.history.length - 1];
  return (
    `the ${what}; training stopped. ` +
    (kept === undefined
      ? `No epoch had finished, so ${run.out} has no checkpoint. `
      : `${run.out} keeps the last good checkpoint (epoch ${kept.epoch}). `) +
    `Try a lower \`lr\`${bf16 ? " or train without `bf16`" : ""}.`
  );
}

/**
 * The training pass of `epoch`: shuffled batches (seeded per epoch), augmentation when asked,
 * an optimizer step per batch. Stops early when `signal` aborts or `maxSteps` is reached. In a
 * data-parallel run this rank trains on its share and every step averages the gradients over the
 * ranks, which stop together (see distributed.ts).
 * @throws TrainError when the loss becomes non-finite (the last good checkpoint stays)
 */
export async function trainEpoch(
  run: Run,
  epoch: number,
  onProgress: (p: PassProgress) => void,
  signal?: AbortSignal,
): Promise<TrainPass> {
  const { config, optimizer, feed, state, parallel } = run;
  const rank = parallel?.rank ?? 0;
  manualSeed(torchSeed(config.seed, epoch) + rank);
  const list = feed.trainBatches(epoch, config.batchSize, parallel);
  const samples = list.reduce((n, b) => n + b.length, 0);
  const totalSteps = list.length * config.epochs;
  const augmentRandom = new Random(config.seed).fork(rank === 0 ? "train:augment" : `train:augment:${rank}`);
  const load = (bi: number): Promise<LabeledBatch> => feed.load(list[bi]!, { epoch, train: true });
  const pass: TrainPass = {
    sums: emptySums(),
    steps: 0,
    lr: optimizer.lr,
    seconds: 0,
    loaderWaitSeconds: 0,
    stopped: null,
  };
  run.model.train();
  const t0 = performance.now();
  let next: Promise<LabeledBatch> | null = list.length > 0 ? load(0) : null;
  for (let bi = 0; bi < list.length; bi++) {
    // Ranks decide to stop together, after the step's all-reduce.
    if (signal?.aborted === true && parallel === null) {
      pass.stopped = "aborted";
      break;
    }
    const w0 = performance.now();
    const batch = await next!;
    pass.loaderWaitSeconds += (performance.now() - w0) / 1000;
    next = bi + 1 < list.length ? load(bi + 1) : null;
    const shape = { batch: batch.labels.length, k: feed.sources, rows: feed.rows, cols: feed.cols };
    if (config.augment) {
      const settings = { ...DEFAULT_AUGMENT, topDb: run.features.topDb };
      augmentBatch(batch.mixture, batch.sources, shape, settings, augmentRandom.fork(`${epoch}:${bi}`));
    }
    // After the whole-sample augmentation, so the references get both.
    const references = config.augmentReferences
      ? augmentedCopies(
          batch.mixture,
          batch.sources,
          shape,
          { ...REFERENCE_AUGMENT, topDb: run.features.topDb },
          augmentRandom.fork(`references:${epoch}:${bi}`),
        )
      : undefined;
    const s0 = performance.now();
    // `bf16` auto's trial times these first steps in both precisions (a data-parallel run has none).
    const trial = run.precisionTrial;
    optimizer.zeroGrad();
    await parallel?.syncBuffers(run.model);
    const stepBf16 = trial?.nextIsBf16() ?? run.config.bf16;
    const sums = batchStep(run, batch, true, stepBf16, references);
    const agreed =
      parallel === null
        ? { total: sums.total, samples: sums.samples, aborted: false }
        : await parallel.averageGradients(optimizer.params, { ...sums, aborted: signal?.aborted === true });
    if (agreed.aborted) {
      pass.stopped = "aborted";
      break;
    }
    if (!Number.isFinite(agreed.total)) {
      optimizer.zeroGrad();
      const loss = agreed.total / agreed.samples;
      const where = `loss became ${loss} at epoch ${epoch}, step ${bi + 1}`;
      throw new TrainError(divergedMessage(run, where, stepBf16));
    }
    if (config.schedule === "cosine")
      optimizer.lr = cosineLr(config.lr, config.warmup, totalSteps, state.globalStep);
    optimizer.step();
    if (trial !== null) {
      trial.record((performance.now() - s0) / 1000);
      if (trial.done) await settlePrecision(run);
    }
    pass.steps++;
    state.globalStep++;
    pass.sums = addSums(pass.sums, sums);
    onProgress(passProgress(pass.sums, samples, feed.sources, t0));
    if (config.maxSteps !== undefined && state.globalStep >= config.maxSteps) {
      pass.stopped = "max-steps";
      break;
    }
  }
  if (next !== null) await next.catch(() => undefined);
  // An epoch shorter than the trial decides on the pairs it timed, before its checkpoint.
  await settlePrecision(run);
  if (parallel !== null) pass.sums = await parallel.sumOver(pass.sums);
  pass.seconds = (performance.now() - t0) / 1000;
  return pass;
}

/**
 * The validation pass: every test sample once, in order, without gradients.
 * @throws TrainError when the validation loss is not finite
 */
export async function validateEpoch(
  run: Run,
  epoch: number,
  onProgress: (p: PassProgress) => void,
): Promise<{ sums: PassSums; seconds: number }> {
  const { feed, parallel } = run;
  const t0 = performance.now();
  run.model.eval();
  await parallel?.syncBuffers(run.model);
  const list = feed.validationBatches(run.config.batchSize, parallel);
  const samples = list.reduce((n, b) => n + b.length, 0);
  const load = (bi: number): Promise<LabeledBatch> => feed.load(list[bi]!, { epoch, train: false });
  let sums = emptySums();
  let next: Promise<LabeledBatch> | null = list.length > 0 ? load(0) : null;
  for (let bi = 0; bi < list.length; bi++) {
    const batch = await next!;
    next = bi + 1 < list.length ? load(bi + 1) : null;
    sums = addSums(
      sums,
      noGrad(() => batchStep(run, batch, false)),
    );
    onProgress(passProgress(sums, samples, feed.sources, t0));
  }
  run.model.train();
  if (parallel !== null) sums = await parallel.sumOver(sums);
  const valLoss = sums.total / sums.samples;
  if (!Number.isFinite(valLoss)) {
    throw new TrainError(divergedMessage(run, `validation loss became ${valLoss} after epoch ${epoch}`));
  }
  return { sums, seconds: (performance.now() - t0) / 1000 };
}
