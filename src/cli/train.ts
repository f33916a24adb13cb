import type { Command } from "commander";
import { CLIP_STORAGES } from "../data/mix/remix.js";
import { UsageError } from "../errors.js";
import { PRESET_NAMES } from "../model/presets.js";
import { type TrainConfig, type TrainConfigInput, TrainConfigSchema } from "../train/config.js";
import {
  formatEpochLine,
  train,
  type TrainInput,
  type TrainProgress,
  type TrainSummary,
} from "../train/trainer.js";
import { createProgress, type Progress } from "../util/progress.js";
import { warningPrinter } from "./flags.js";
import { launchFromFlags, type LaunchFlags, launchLocalRanks } from "./launch.js";
import { parseChoice, parseFloatFlag, parseIntFlag, parseNameList, parseRange } from "./options.js";

interface TrainFlags extends LaunchFlags {
  data?: string;
  out?: string;
  preset?: string;
  features?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  weightDecay?: string;
  lossWeight?: string;
  schedule?: string;
  warmup?: string;
  unetOutput?: string;
  pit?: boolean;
  unetSkips?: string;
  unetChannels?: string;
  resnetWidth?: string;
  resnetDropout?: string;
  labelSmoothing?: string;
  classifierInput?: string;
  referenceWeight?: string;
  augment?: boolean;
  augmentReferences?: boolean;
  bf16?: boolean | string;
  threads?: string;
  seed?: string;
  earlyStop?: string;
  resume?: boolean;
  split?: string;
  cacheDir?: string;
  maxSteps?: string;
  sources?: string;
  mixtures?: string;
  valMixtures?: string;
  gainDb?: string;
  holdOut?: string;
  clipStorage?: string;
  testFraction?: string;
  separationLoss?: string;
  quiet?: boolean;
}

/** Turns the flags into a config input; flags not given stay undefined so the schema's defaults apply. */
export function trainFlagsToConfig(flags: TrainFlags): TrainInput {
  if (flags.out === undefined)
    throw new UsageError("--out <dir> is required (the model folder to write, e.g. runs/first)");
  if (flags.data === undefined && flags.resume !== true) {
    throw new UsageError(
      "--data <dir> is required (a train_data folder made by `stemscope mix`, or a raw_data clip library made by `stemscope synth`)",
    );
  }
  const c: Partial<TrainConfigInput> & { out: string } = { out: flags.out };
  if (flags.data !== undefined) c.data = flags.data;
  if (flags.preset !== undefined) c.preset = parseChoice("--preset", flags.preset, PRESET_NAMES);
  if (flags.features !== undefined)
    c.features = parseChoice("--features", flags.features, ["seed", "native"] as const);
  if (flags.epochs !== undefined) c.epochs = parseIntFlag("--epochs", flags.epochs, { min: 1 });
  if (flags.batchSize !== undefined) c.batchSize = parseIntFlag("--batch-size", flags.batchSize, { min: 1 });
  if (flags.lr !== undefined) c.lr = parseFloatFlag("--lr", flags.lr, { min: 1e-12 });
  if (flags.optimizer !== undefined)
    c.optimizer = parseChoice("--optimizer", flags.optimizer, ["adam", "adamw"] as const);
  if (flags.weightDecay !== undefined)
    c.weightDecay = parseFloatFlag("--weight-decay", flags.weightDecay, { min: 0 });
  if (flags.lossWeight !== undefined)
    c.lossWeight = parseFloatFlag("--loss-weight", flags.lossWeight, { min: 0, max: 1 });
  if (flags.schedule !== undefined)
    c.schedule = parseChoice("--schedule", flags.schedule, ["plateau", "cosine"] as const);
  if (flags.warmup !== undefined) c.warmup = parseFloatFlag("--warmup", flags.warmup, { min: 0, max: 0.99 });
  if (flags.unetOutput !== undefined)
    c.unetOutput = parseChoice("--unet-output", flags.unetOutput, ["direct", "mask", "ratio"] as const);
  if (flags.unetSkips !== undefined)
    c.unetSkips = parseChoice("--unet-skips", flags.unetSkips, ["pooled", "full"] as const);
  if (flags.unetChannels !== undefined)
    c.unetChannels = parseIntFlag("--unet-channels", flags.unetChannels, { min: 1, max: 256 });
  if (flags.resnetWidth !== undefined)
    c.resnetWidth = parseIntFlag("--resnet-width", flags.resnetWidth, { min: 1, max: 256 });
  if (flags.resnetDropout !== undefined)
    c.resnetDropout = parseFloatFlag("--resnet-dropout", flags.resnetDropout, { min: 0, max: 0.99 });
  if (flags.labelSmoothing !== undefined)
    c.labelSmoothing = parseFloatFlag("--label-smoothing", flags.labelSmoothing, { min: 0, max: 0.99 });
  if (flags.classifierInput !== undefined)
    c.classifierInput = parseChoice("--classifier-input", flags.classifierInput, [
      "source",
      "source+mixture",
    ] as const);
  if (flags.separationLoss !== undefined)
    c.separationLoss = parseChoice("--separation-loss", flags.separationLoss, ["mse", "shares"] as const);
  if (flags.pit === true) c.pit = true;
  if (flags.referenceWeight !== undefined)
    c.referenceWeight = parseFloatFlag("--reference-weight", flags.referenceWeight, { min: 0 });
  if (flags.augment === true) c.augment = true;
  if (flags.augmentReferences === true) c.augmentReferences = true;
  if (flags.bf16 === true) c.bf16 = true;
  else if (flags.bf16 !== undefined) {
    const when = parseChoice("--bf16", String(flags.bf16), ["on", "off", "auto"] as const);
    c.bf16 = when === "auto" ? "auto" : when === "on";
  }
  if (flags.threads !== undefined) c.threads = parseIntFlag("--threads", flags.threads, { min: 1, max: 256 });
  if (flags.seed !== undefined) c.seed = parseIntFlag("--seed", flags.seed);
  if (flags.earlyStop !== undefined) c.earlyStop = parseIntFlag("--early-stop", flags.earlyStop, { min: 1 });
  if (flags.resume === true) c.resume = true;
  if (flags.split !== undefined) c.split = parseChoice("--split", flags.split, ["auto", "random"] as const);
  if (flags.cacheDir !== undefined) c.cacheDir = flags.cacheDir;
  if (flags.maxSteps !== undefined) c.maxSteps = parseIntFlag("--max-steps", flags.maxSteps, { min: 1 });
  if (flags.sources !== undefined) c.sources = parseIntFlag("--sources", flags.sources, { min: 2, max: 16 });
  if (flags.mixtures !== undefined) c.mixtures = parseIntFlag("--mixtures", flags.mixtures, { min: 1 });
  if (flags.valMixtures !== undefined)
    c.valMixtures = parseIntFlag("--val-mixtures", flags.valMixtures, { min: 1 });
  if (flags.gainDb !== undefined) c.gainDb = parseRange("--gain-db", flags.gainDb);
  if (flags.holdOut !== undefined) c.holdOut = parseNameList("--hold-out", flags.holdOut);
  if (flags.clipStorage !== undefined)
    c.clipStorage = parseChoice("--clip-storage", flags.clipStorage, CLIP_STORAGES);
  if (flags.testFraction !== undefined)
    c.testFraction = parseFloatFlag("--test-fraction", flags.testFraction, { min: 0.001, max: 0.999 });
  return c as TrainInput;
}

/** The options of `stemscope train`, in the order `--help` lists them: [flags, description]. */
function trainOptions(d: TrainConfig): [flags: string, description: string][] {
  return [
    // What to train on, where to write, which model.
    [
      "--data <dir>",
      "a train_data folder (labels.txt, sample_<i>/, split.json: fixed mixtures), or a raw_data clip library (one folder of clips per class, from `stemscope synth`: new mixtures drawn every step)",
    ],
    ["--out <dir>", "model folder to write, e.g. runs/first (the seed wrote logs/m2.pth)"],
    ["--preset <name>", `architecture: ${PRESET_NAMES.join(" | ")} (default: ${d.preset})`],
    ["--features <mode>", `seed | native spectrograms (default: ${d.features})`],
    // Optimisation.
    ["--epochs <n>", `epochs (default: ${d.epochs})`],
    ["--batch-size <n>", `batch size (default: ${d.batchSize})`],
    ["--lr <x>", `Adam learning rate (default: ${d.lr})`],
    [
      "--optimizer <name>",
      `adam (weight decay as an L2 penalty, the seed's) | adamw (decoupled weight decay; torch's default decay is 0.01) (default: ${d.optimizer})`,
    ],
    ["--weight-decay <x>", `Adam's L2 penalty or AdamW's decoupled decay (default: ${d.weightDecay})`],
    ["--loss-weight <x>", `λ in λ·L_sep + (1−λ)·L_cls (default: ${d.lossWeight})`],
    [
      "--schedule <name>",
      `plateau (ReduceLROnPlateau on test loss, the seed's) | cosine (warm-up, then cosine decay to 0 over all epochs) (default: ${d.schedule})`,
    ],
    ["--warmup <fraction>", `cosine schedule: fraction of steps spent warming up (default: ${d.warmup})`],
    // Architecture and objective.
    [
      "--unet-output <kind>",
      "direct | mask (sigmoid mask × mixture) | ratio (softmax ratio masks on the mixture's mel power; --features native) (default: the preset's)",
    ],
    [
      "--unet-skips <kind>",
      "pooled (the seed's: pooled encoder outputs, half-resolution output) | full (standard U-Net) (default: the preset's)",
    ],
    [
      "--unet-channels <n>",
      "U-Net channels of its first level, doubled at each level below (default: the preset's; fast 16)",
    ],
    [
      "--resnet-width <n>",
      "ResNet channels of its stem and first stage, doubled at each stage (default: the preset's; fast 16)",
    ],
    [
      "--resnet-dropout <p>",
      "ResNet dropout: share of its pooled features dropped before the head (default: the preset's; fast 0)",
    ],
    [
      "--classifier-input <kind>",
      "source (the seed's: the separated spectrogram) | source+mixture (it and the mixture, 2 channels) (default: source)",
    ],
    ["--augment", "augment training spectrograms: random EQ, mel shift, time/frequency masks"],
    [
      "--augment-references",
      "augment only what the classifier's reference term sees (with --reference-weight > 0): random EQ ±12 dB, mel shift ±8 bins, masks",
    ],
    [
      "--pit",
      "permutation-invariant training: each sample's source order is the one with the least separation loss",
    ],
    [
      "--separation-loss <kind>",
      `mse (the seed's: squared error of the spectrogram values) | shares (--features native: error of each source's share of every mel cell, what resynthesis turns into masks, weighted by the mixture's magnitude) (default: ${d.separationLoss})`,
    ],
    [
      "--reference-weight <x>",
      `β: also train the classifier on the reference sources, adding β·Σ CE(classifier(source), label) to L_cls (default: ${d.referenceWeight}, the seed's loss)`,
    ],
    [
      "--label-smoothing <ε>",
      `label smoothing of every classification term: targets (1 − ε)·one-hot + ε/classes (default: ${d.labelSmoothing}, the seed's loss)`,
    ],
    // The run.
    [
      "--bf16 [when]",
      "bfloat16 autocast: on (the flag alone), off, or auto — time both here and take bf16 only where it is ≥ 1.1× faster",
    ],
    ["--threads <n>", "libtorch threads (default: CPU cores)"],
    ["--seed <n>", `seed of initialisation, shuffling and dropout (default: ${d.seed})`],
    ["--early-stop <n>", "stop after n epochs without a better test accuracy"],
    ["--resume", "continue the interrupted run in --out exactly where its last epoch ended"],
    [
      "--split <mode>",
      `auto (split.json, else seeded) | random (the seed's leaky split) (default: ${d.split})`,
    ],
    ["--cache-dir <dir>", "feature cache folder (default: <data>/.stemscope-cache)"],
    ["--max-steps <n>", "stop after n optimizer steps in total (benchmarks)"],
    // Clip libraries (mixtures drawn afresh).
    ["--sources <k>", `clip library: instruments per drawn mixture (default: ${d.sources})`],
    ["--mixtures <n>", `clip library: mixtures drawn per epoch (default: ${d.mixtures})`],
    [
      "--val-mixtures <n>",
      `clip library: fixed validation mixtures, from held-back clips (default: ${d.valMixtures})`,
    ],
    [
      "--gain-db <min,max>",
      `clip library: level of sources 2…K relative to source 1, dB (default: ${d.gainDb.join(",")})`,
    ],
    [
      "--hold-out <groups>",
      "clip library: comma-separated source groups of its manifest (e.g. a320u) left out of training and validation",
    ],
    [
      "--clip-storage <where>",
      `clip library: memory (every clip held decoded: 2 bytes a sample) | disk (each drawn clip read from its file again: memory does not grow with the library; the same mixtures) (default: ${d.clipStorage})`,
    ],
    [
      "--test-fraction <x>",
      `share of samples (seeded split) or of each class's clips (clip library) kept for validation (default: ${d.testFraction})`,
    ],
    ["--quiet", "no progress output (the per-epoch lines are still printed)"],
    // Several ranks (data-parallel).
    [
      "--world-size <n>",
      "ranks training together, data-parallel; --batch-size is per rank (default: $WORLD_SIZE, else 1)",
    ],
    ["--rank <r>", "this process's rank, 0 to world size − 1; rank 0 writes --out (default: $RANK, else 0)"],
    [
      "--master-addr <host>",
      "host of rank 0, which hosts the rendezvous (default: $MASTER_ADDR, else 127.0.0.1)",
    ],
    ["--master-port <port>", "rendezvous port on rank 0 (default: $MASTER_PORT, else 29500)"],
    ["--dist-timeout <s>", "seconds a rendezvous or collective waits for the other ranks (default: 300)"],
    ["--nproc <n>", "start n ranks of this command on this machine (each with cores / n threads)"],
  ];
}

/** Registers `stemscope train`. */
export function registerTrainCommand(program: Command): void {
  const command = program
    .command("train")
    .description(
      "Train the joint U-Net + ResNet on a train_data folder (the seed's 02.py) and write a model folder: config.json, weights.safetensors (best by test accuracy), last.safetensors, checkpoint, train_log.jsonl, metrics.json.",
    );
  for (const [flags, description] of trainOptions(TrainConfigSchema.parse({ data: "-", out: "-" })))
    command.option(flags, description);
  command.action(runTrainCommand);
}

/** The action of `stemscope train`: local ranks (--nproc), or this rank's training run. */
async function runTrainCommand(flags: TrainFlags, command: Command): Promise<void> {
  if (flags.nproc !== undefined) {
    const nproc = parseIntFlag("--nproc", flags.nproc, { min: 1, max: 256 });
    await launchLocalRanks(nproc, flags, process.argv.slice(2));
    return;
  }
  const launch = launchFromFlags(flags);
  const config = { ...trainFlagsToConfig(flags), worldSize: launch.worldSize };
  if (config.threads === undefined && launch.defaultThreads !== undefined)
    config.threads = launch.defaultThreads;
  // Rank 0 speaks for the run; the others only report their own errors.
  const speaks = (launch.distributed.rank ?? 0) === 0;
  const bars = progressBars(flags.quiet === true || !speaks);
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      "\nstemscope: stopping after this step (Ctrl-C again to quit now); the last finished epoch is kept\n",
    );
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    const summary = await train(config, {
      signal: controller.signal,
      onProgress: bars.update,
      onWarning: speaks ? warningPrinter(command) : () => undefined,
      onEpoch: (record) => {
        bars.stop();
        if (speaks) process.stdout.write(`${formatEpochLine(record)}\n`);
      },
      distributed: launch.distributed,
    });
    bars.stop();
    if (speaks) process.stdout.write(`${summaryLine(summary)}\n`);
  } finally {
    bars.stop();
    process.off("SIGINT", onSigint);
  }
}

/** One progress bar per phase and epoch (`update`); `stop` ends the current one. */
function progressBars(quiet: boolean): { update: (e: TrainProgress) => void; stop: () => void } {
  let bar: Progress | undefined;
  let barKey = "";
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
    barKey = "";
  };
  const update = (e: TrainProgress): void => {
    const key = `${e.phase}:${e.epoch}`;
    if (key !== barKey) {
      bar?.stop();
      barKey = key;
      const label = e.phase === "cache" ? "data" : `epoch ${e.epoch}/${e.epochs} ${e.phase}`;
      bar = createProgress({ label, total: e.total, quiet });
    }
    const payload: Record<string, number> = {};
    if (e.loss !== undefined) payload.loss = e.loss;
    if (e.acc !== undefined) payload.acc = e.acc;
    bar?.update(e.done, payload);
  };
  return { update, stop };
}

/** The line printed when training ends: epochs, why it stopped, the best epoch, data, memory. */
function summaryLine(summary: TrainSummary): string {
  const best =
    summary.bestEpoch > 0
      ? `best epoch ${summary.bestEpoch} (test acc ${summary.bestValAcc.toFixed(4)})`
      : "no epoch finished";
  const why = {
    epochs: "",
    "early-stop": " (early stop)",
    "max-steps": " (--max-steps reached)",
    aborted: " (interrupted)",
  }[summary.stopReason];
  const data =
    summary.cache === undefined
      ? " drawn afresh from the clip library"
      : `; features: ${summary.cache.computed} computed, ${summary.cache.hits} cached`;
  const ranks = summary.worldSize > 1 ? `; trained on ${summary.worldSize} ranks` : "";
  return `${summary.out}: ${summary.epochs} epochs${why}, ${best}; ${summary.trainSamples} train / ${summary.testSamples} test samples (split: ${summary.split})${data}; peak RSS ${summary.peakRssMb} MiB${ranks}`;
}
