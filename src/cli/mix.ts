import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { type MixConfigInput, MixConfigSchema } from "../data/formats/mix-config.js";
import { type MixProgress, buildMixtures } from "../data/mix/mix.js";
import { type Progress, createProgress } from "../util/progress.js";
import { addAlias, warningPrinter } from "./flags.js";
import {
  parseChoice,
  parseFloatFlag,
  parseIntFlag,
  parseJobs,
  parseNameList,
  parseRange,
} from "./options.js";

interface MixFlags {
  data?: string;
  out?: string;
  samplesPerCombination?: string;
  seed?: string;
  sources?: string;
  gainDb?: string;
  balance?: string;
  offset?: string;
  normalize?: string;
  peak?: string;
  testFraction?: string;
  splitBy?: string;
  testSoundfonts?: string;
  groups?: string;
  sampleRate?: string;
  seconds?: string;
  jobs?: string;
  overwrite?: boolean;
  quiet?: boolean;
}

/** Turns the flags into a config input; flags not given stay undefined so the schema's defaults apply. */
export function mixFlagsToConfig(flags: MixFlags): MixConfigInput {
  const config: MixConfigInput = {};
  if (flags.data !== undefined) config.data = flags.data;
  if (flags.out !== undefined) config.out = flags.out;
  if (flags.samplesPerCombination !== undefined)
    config.samplesPerCombination = parseIntFlag("--samples-per-combination", flags.samplesPerCombination, {
      min: 1,
    });
  if (flags.seed !== undefined) config.seed = parseIntFlag("--seed", flags.seed);
  if (flags.sources !== undefined)
    config.sources = parseIntFlag("--sources", flags.sources, { min: 2, max: 16 });
  if (flags.gainDb !== undefined) config.gainDb = parseRange("--gain-db", flags.gainDb);
  if (flags.balance !== undefined)
    config.balance = parseChoice("--balance", flags.balance, ["none", "rms"] as const);
  if (flags.offset !== undefined)
    config.offset = parseChoice("--offset", flags.offset, ["random", "start"] as const);
  if (flags.normalize !== undefined)
    config.normalize = parseChoice("--normalize", flags.normalize, ["peak", "limit"] as const);
  if (flags.peak !== undefined) config.peak = parseFloatFlag("--peak", flags.peak, { min: 0.01, max: 0.99 });
  if (flags.testFraction !== undefined)
    config.testFraction = parseFloatFlag("--test-fraction", flags.testFraction, { min: 0, max: 0.95 });
  if (flags.splitBy !== undefined)
    config.splitBy = parseChoice("--split-by", flags.splitBy, ["clip", "soundfont", "random"] as const);
  if (flags.testSoundfonts !== undefined) {
    const list = flags.testSoundfonts.split(",").map((x) => x.trim());
    if (list.some((x) => x === ""))
      throw new UsageError(
        `--test-soundfonts: expected comma-separated soundfont ids, got "${flags.testSoundfonts}"`,
      );
    config.testSoundfonts = list;
  }
  if (flags.groups !== undefined) config.groups = parseNameList("--groups", flags.groups);
  if (flags.sampleRate !== undefined)
    config.sampleRate = parseIntFlag("--sample-rate", flags.sampleRate, { min: 1000, max: 192000 });
  if (flags.seconds !== undefined)
    config.seconds = parseFloatFlag("--seconds", flags.seconds, { min: 0.01, max: 600 });
  return config;
}

/** Registers `stemscope mix`. */
export function registerMixCommand(program: Command): void {
  const d = MixConfigSchema.parse({});
  const command = program
    .command("mix")
    .description(
      "Build a train_data folder of mixtures from a raw_data library (the seed's 01.py): for every combination of class folders, N samples of sample_<i>/{mixed,source1..K}.wav, plus labels.txt, split.json and mix.json.",
    )
    .option("--data <dir>", `raw_data folder, one sub-folder of .wav clips per class (default: ${d.data})`)
    .option(
      "--out <dir>",
      `output train_data folder; labels.txt paths start with it as written (default: ${d.out})`,
    )
    .option(
      "--samples-per-combination <n>",
      `samples per combination of classes (default: ${d.samplesPerCombination})`,
    )
    .option("--seed <n>", `seed of every random choice (default: ${d.seed})`)
    .option("--sources <k>", `sources per mixture, K ≥ 2 (default: ${d.sources})`)
    .option(
      "--gain-db <min,max>",
      `level of sources 2..K relative to source 1, in dB (default: ${d.gainDb.join(",")})`,
    )
    .option(
      "--balance <mode>",
      `none | rms: scale every source to equal RMS before the gains (default: ${d.balance})`,
    )
    .option("--offset <mode>", `random | start: where to cut longer clips (default: ${d.offset})`)
    .option(
      "--normalize <mode>",
      `peak | limit: scale each sample to --peak, or only down to it (default: ${d.normalize})`,
    )
    .option("--peak <x>", `peak level of the normalisation, fraction of full scale (default: ${d.peak})`)
    .option(
      "--test-fraction <f>",
      `fraction of samples assigned to test in split.json (default: ${d.testFraction})`,
    )
    .option("--split-by <mode>", `clip | soundfont | random (the seed's leaky split) (default: ${d.splitBy})`)
    .option(
      "--test-soundfonts <ids>",
      "with --split-by soundfont: the soundfonts held out for test, e.g. a320u (default: drawn from --seed)",
    )
    .option(
      "--groups <ids>",
      "use only the clips of these source groups of raw_data/manifest.jsonl (e.g. a320u): a test set of timbres a model never heard",
    )
    .option("--sample-rate <hz>", `output sample rate (default: ${d.sampleRate})`)
    .option("--seconds <s>", `output length in seconds (default: ${d.seconds})`)
    .option("--jobs <n>", "worker threads (default: CPU cores); the output does not depend on it")
    .option("--overwrite", "replace mixtures made with another configuration in --out")
    .option("--quiet", "no progress output");
  addAlias(command, "--data-dir <dir>", "data");
  addAlias(command, "--output-dir <dir>", "out");
  command.action(async (flags: MixFlags) => {
    const config = mixFlagsToConfig(flags);
    const jobs = parseJobs("--jobs", flags.jobs);
    const bars: Partial<Record<MixProgress["phase"], Progress>> = {};
    const result = await buildMixtures(config, {
      jobs,
      overwrite: flags.overwrite === true,
      onWarning: warningPrinter(command),
      onProgress: (event) => {
        if (event.phase === "mix") bars.load?.stop();
        let bar = bars[event.phase];
        if (bar === undefined) {
          bar = createProgress({
            label: event.phase === "load" ? "loading clips" : "mixing",
            total: event.total,
            start: event.done,
            quiet: flags.quiet === true,
          });
          bars[event.phase] = bar;
        }
        bar.update(event.done);
      },
    });
    bars.load?.stop();
    bars.mix?.stop();
    const k = result.config.sources;
    process.stdout.write(
      `${result.config.out}: ${result.samples} samples (${result.combinations.length} combinations of ${k} of ${result.classes.length} classes × ${result.config.samplesPerCombination}); wrote ${result.written}, kept ${result.skipped} from an earlier run\n` +
        `labels.txt: ${result.labelsPath}\nsplit.json: ${result.splitPath} (train ${result.train}, test ${result.test}, by ${result.config.splitBy})\n`,
    );
  });
}
