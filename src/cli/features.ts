import type { Command } from "commander";
import { loadAudio } from "../audio/index.js";
import { UsageError } from "../errors.js";
import { computeFeatures, encodeNpy, resolveFeatureConfig, spectrogramToPng } from "../features/index.js";
import { writeFilesAtomic } from "../util/atomic.js";
import { addAlias } from "./flags.js";
import { parseChoice } from "./options.js";

/** `stemscope features <audio> --out <file.npy> [--features seed|native] [--png <file.png>]` */
export function registerFeaturesCommand(program: Command): void {
  const d = resolveFeatureConfig();
  const command = program
    .command("features")
    .description(
      "compute the [128, 128] spectrogram features of the first 2 s of an audio file and save them as .npy (rows = mel bands low→high, columns = time)",
    )
    .argument("<audio>", "audio file (WAV, MP3, FLAC, OGG, …)")
    .requiredOption("--out <file.npy>", "where to write the float32 array (C order, shape [128, 128])")
    .option("--features <mode>", `feature mode: seed | native (default: ${d.mode})`)
    .option(
      "--png <file.png>",
      "also write a greyscale picture of the features (low frequencies at the bottom)",
    );
  addAlias(command, "--mode <mode>", "features");
  command.action(async (audio: string, options: { out: string; features?: string; png?: string }) => {
    if (!options.out.endsWith(".npy"))
      throw new UsageError(`--out ${options.out}: expected a file name ending in .npy`);
    if (options.png !== undefined && !options.png.endsWith(".png")) {
      throw new UsageError(`--png ${options.png}: expected a file name ending in .png`);
    }
    const config = resolveFeatureConfig(
      options.features === undefined
        ? {}
        : { mode: parseChoice("--features", options.features, ["seed", "native"] as const) },
    );
    const loaded = await loadAudio(audio, { sampleRate: config.sampleRate });
    const features = computeFeatures(loaded.samples, config);
    // Both or neither: an unwritable --png leaves no .npy behind.
    const outputs = [{ path: options.out, data: encodeNpy(features, [config.nMels, config.size]) }];
    if (options.png !== undefined)
      outputs.push({ path: options.png, data: spectrogramToPng(features, config.nMels, config.size) });
    await writeFilesAtomic(outputs);
    const used = Math.min(loaded.durationSeconds, config.seconds);
    process.stdout.write(
      `${options.out}: ${config.mode} features [${config.nMels}, ${config.size}] of ${used.toFixed(2)} s of ${audio}` +
        ` (${loaded.originalChannels} ch, ${loaded.originalSampleRate} Hz)${options.png !== undefined ? `; picture ${options.png}` : ""}\n`,
    );
  });
}
