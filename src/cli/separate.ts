import { basename, join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import {
  loadModel,
  SeparateOptionsSchema,
  separateToFolder,
  trackName,
  WriteStemsOptionsSchema,
} from "../infer/index.js";
import { createProgress } from "../util/progress.js";
import { lockFolder } from "../util/lock.js";
import {
  addInferenceOptions,
  forEachFile,
  type InferenceFlags,
  inferenceOptions,
  loadOptions,
} from "./predict.js";
import { warningPrinter } from "./flags.js";
import { parseChoice } from "./options.js";

interface SeparateFlags extends InferenceFlags {
  out: string;
  float32?: boolean;
  clipMode?: string;
  stemFormat?: string;
  quiet?: boolean;
}

/** `stemscope separate <audio…> [--model <dir>] [--out separated/] [--float32] [--clip-mode rescale|clamp] [--stem-format input|model] [--quiet]` */
export function registerSeparateCommand(program: Command): void {
  const command = program
    .command("separate")
    .description(
      "Separate audio files into one stem per source, named by the predicted instrument: <out>/<track>/<instrument>.wav and predictions.json. The model hears the audio mixed to mono at its rate; its masks are applied to each channel's STFT (the mixture's phase), windows are cross-faded, and the stems sum back to the input. A file with no instrument (silence, DC, or what the model folder's calibrated rule rejects: noise, speech) gets one stem, no-instrument.wav, the input itself.",
    )
    .argument("<audio...>", "audio files (WAV, MP3, FLAC, OGG, …)");
  addInferenceOptions(command)
    .option("--out <dir>", "output folder", "separated")
    .option("--float32", "write 32-bit float WAV (default: 16-bit PCM)")
    .option(
      "--clip-mode <mode>",
      `16-bit PCM beyond ±1: clamp, or rescale all stems of a track together (default: ${WriteStemsOptionsSchema.parse({}).clipMode})`,
    )
    .option(
      "--stem-format <format>",
      `input: stems at the input's sample rate and channels, each channel masked on its own STFT (above the model's top mel band, its fmax — 8 kHz by default — the top band's mask carries on) | model: mono at the model's rate (16 kHz by default), as the model hears the input (default: ${SeparateOptionsSchema.parse({}).stemFormat})`,
    )
    .option("--quiet", "no progress bar")
    .action(async (files: string[], flags: SeparateFlags, command: Command) => {
      const clipMode =
        flags.clipMode === undefined
          ? undefined
          : parseChoice("--clip-mode", flags.clipMode, ["clamp", "rescale"] as const);
      const options = {
        ...inferenceOptions(flags),
        ...(flags.stemFormat === undefined
          ? {}
          : { stemFormat: parseChoice("--stem-format", flags.stemFormat, ["input", "model"] as const) }),
      };
      const names = new Map<string, string>();
      for (const file of files) {
        const track = trackName(file);
        const other = names.get(track);
        if (other !== undefined && other !== file)
          throw new UsageError(
            `${other} and ${file} would both be written to ${join(flags.out, track)}; rename one`,
          );
        names.set(track, file);
      }
      const warn = warningPrinter(command);
      // Locked for the whole run (before the model loads), so a second run into --out fails at once.
      const lock = lockFolder(flags.out, "separate", warn);
      const model = await loadModel(flags.model, loadOptions(flags)).catch((error: unknown) => {
        lock.release();
        throw error;
      });
      try {
        await forEachFile(files, command, async (file) => {
          const track = trackName(file);
          let progress: ReturnType<typeof createProgress> | undefined;
          try {
            // read, separated and written in blocks: memory does not grow with the file's length
            const { prediction, files: written } = await separateToFolder(
              model,
              file,
              join(flags.out, track),
              {
                ...options,
                encoding: flags.float32 === true ? "float32" : "pcm16",
                clipMode,
                onWarning: warn,
                onProgress: (done, total) => {
                  progress ??= createProgress({
                    label: `separate ${track}`,
                    total,
                    quiet: flags.quiet === true,
                  });
                  progress.update(done);
                },
              },
            );
            progress?.stop();
            for (const warning of prediction.warnings) warn(warning);
            const none = prediction.noInstrument;
            if (none !== null) {
              process.stdout.write(`${file}: no instrument (${none.detail}); ${written[0]} is the input\n`);
              return;
            }
            const stems = written.map((path) => {
              const name = basename(path, ".wav");
              const p = prediction.instruments.find((x) => x.name === name)?.probability ?? 0;
              return `${path} (${p.toFixed(2)})`;
            });
            process.stdout.write(`${file}: ${stems.join(", ")}\n`);
          } finally {
            progress?.stop();
          }
        });
      } finally {
        model.dispose();
        lock.release();
      }
    });
}
