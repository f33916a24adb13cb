import { join } from "node:path";
import type { Command } from "commander";
import { setNumThreads } from "../engine/index.js";
import { StemscopeError } from "../errors.js";
import {
  formatPrediction,
  type InferenceOptions,
  InferenceOptionsSchema,
  loadModel,
  predictionRecord,
  type StemscopeModel,
  timelinePng,
  trackName,
} from "../infer/index.js";
import { BACKENDS } from "../separator/runner.js";
import { type LoadOptions, LoadOptionsSchema } from "../separator/separator.js";
import { writeFileAtomic } from "../util/atomic.js";
import { addAlias, warningPrinter, withFlags } from "./flags.js";
import { parseChoice, parseFloatFlag, parseIntFlag } from "./options.js";

/** Flags shared by `predict` and `separate`. */
export interface InferenceFlags {
  model?: string;
  hopSeconds?: string;
  batchSize?: string;
  silenceDb?: string;
  noiseFlatness?: string;
  summary?: string;
  threads?: string;
  bf16?: boolean;
  backend?: string;
}

/** Adds the flags of {@link InferenceFlags} to a command (their defaults are InferenceOptionsSchema's). */
export function addInferenceOptions(command: Command): Command {
  const d = InferenceOptionsSchema.parse({});
  const backend = LoadOptionsSchema.parse({}).backend;
  command
    .option(
      "--model <dir>",
      "model folder (config.json + weights.safetensors), or the name of a packaged model (models/<name>: default, general); default: the packaged models/default",
    )
    .option("--hop-seconds <s>", `seconds between the starts of the 2-s windows (default: ${d.hopSeconds})`)
    .option("--batch-size <n>", `windows per forward pass (default: ${d.batchSize})`)
    .option(
      "--silence-db <dB>",
      `windows quieter than this RMS level (dBFS, without DC and infrasound below 20 Hz) are marked silent (default: ${d.silenceDb})`,
    )
    .option(
      "--noise-flatness <f>",
      `audible windows whose spectral flatness (0 tonal … 1 white; music < 0.05, pink noise 0.33) is above this are noise, not counted; 1: never (default: ${d.noiseFlatness})`,
    )
    .option(
      "--summary <mode>",
      `file-level probability from the windows': mean (robust to one-window mistakes) | max (catches brief instruments) (default: ${d.summary})`,
    )
    .option("--threads <n>", "libtorch threads (default: all cores, or $STEMSCOPE_THREADS)")
    .option(
      "--bf16",
      "bfloat16 convolutions (faster on CPUs with AVX512-BF16/AMX; slightly different numbers)",
    )
    .option(
      "--backend <name>",
      `what runs the model: ${Object.keys(BACKENDS).join(" | ")} (onnx: onnxruntime on the folder's ONNX export: model.onnx when \`stemscope export\` wrote it, else exported on load; no --bf16) (default: ${backend})`,
    );
  addAlias(command, "--hop <s>", "hopSeconds");
  return addAlias(command, "--batch <n>", "batchSize");
}

/** Parses --backend into the model's load options. */
export function loadOptions(flags: InferenceFlags): LoadOptions {
  return flags.backend === undefined
    ? {}
    : { backend: parseChoice("--backend", flags.backend, Object.keys(BACKENDS)) };
}

/** Parses the shared flags into inference options (and sets the thread count). */
export function inferenceOptions(flags: InferenceFlags): InferenceOptions {
  const options: InferenceOptions = {};
  if (flags.bf16 === true) options.bf16 = true;
  if (flags.hopSeconds !== undefined)
    options.hopSeconds = parseFloatFlag("--hop-seconds", flags.hopSeconds, { min: 0.01, max: 3600 });
  if (flags.batchSize !== undefined)
    options.batchSize = parseIntFlag("--batch-size", flags.batchSize, { min: 1, max: 1024 });
  if (flags.silenceDb !== undefined)
    options.silenceDb = parseFloatFlag("--silence-db", flags.silenceDb, { min: -200, max: 0 });
  if (flags.noiseFlatness !== undefined)
    options.noiseFlatness = parseFloatFlag("--noise-flatness", flags.noiseFlatness, { min: 0, max: 1 });
  if (flags.summary !== undefined)
    options.summary = parseChoice("--summary", flags.summary, ["mean", "max"] as const);
  if (flags.threads !== undefined)
    setNumThreads(parseIntFlag("--threads", flags.threads, { min: 1, max: 256 }));
  return options;
}

/**
 * Runs `work` on every file; an input error (e.g. unreadable) is printed (in `command`'s flags)
 * and the next file goes on. Throws at the end when any file failed, so the exit status is 1.
 */
export async function forEachFile(
  files: string[],
  command: Command,
  work: (file: string) => Promise<void>,
): Promise<void> {
  let failed = 0;
  for (const file of files) {
    try {
      await work(file);
    } catch (error) {
      if (!(error instanceof StemscopeError)) throw error;
      process.stderr.write(`stemscope: ${withFlags(error.message, command)}\n`);
      failed++;
    }
  }
  if (failed > 0)
    throw new StemscopeError(
      `${failed} of ${files.length} input file${files.length === 1 ? "" : "s"} failed`,
    );
}

interface PredictFlags extends InferenceFlags {
  json?: boolean;
  timeline?: boolean;
  plot?: string;
}

/** `stemscope predict <audio…> [--model <dir>] [--json] [--timeline] [--plot <dir>]` */
export function registerPredictCommand(program: Command): void {
  const command = program
    .command("predict")
    .description(
      'Name the instruments playing in audio files of any length, rate, channel count and format: 2-s windows every --hop-seconds, a file-level probability per instrument (the mean, or with --summary max the highest, over non-silent windows of 1 − Π_k (1 − p_k)), and a per-window timeline. A file with no instrument (silence; DC or infrasound; what the model folder\'s calibrated rule rejects: noise, speech) says "no instrument" and is not an error.',
    )
    .argument("<audio...>", "audio files (WAV, MP3, FLAC, OGG, …)");
  addInferenceOptions(command)
    .option(
      "--json",
      'print one JSON object per file, one per line: {"file", "instruments": [{"name", "probability"}…] (highest first, all classes), "windows": […]}',
    )
    .option("--timeline", "also print one line per window (text output)")
    .option(
      "--plot <dir>",
      "write <dir>/<track>.timeline.png: rows = classes in model order, columns = windows, white = probability 1",
    )
    .action(async (files: string[], flags: PredictFlags, command: Command) => {
      const options = inferenceOptions(flags);
      const model: StemscopeModel = await loadModel(flags.model, loadOptions(flags));
      try {
        const warn = warningPrinter(command);
        await forEachFile(files, command, async (file) => {
          const prediction = await model.predictFile(file, options);
          for (const warning of prediction.warnings) warn(warning);
          if (flags.plot !== undefined) {
            await writeFileAtomic(
              join(flags.plot, `${trackName(file)}.timeline.png`),
              timelinePng(prediction, model.classes),
            );
          }
          if (flags.json === true)
            process.stdout.write(`${JSON.stringify(predictionRecord(file, prediction))}\n`);
          else
            process.stdout.write(
              `${formatPrediction(file, prediction, { timeline: flags.timeline === true })}\n`,
            );
        });
      } finally {
        model.dispose();
      }
    });
}
