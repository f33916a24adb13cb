import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { SOURCE_GROUPS } from "../data/synth/sources/groups.js";
import { type SynthConfigInput, SynthConfigSchema } from "../data/synth/config.js";
import { formatInventory } from "../data/synth/sources/inventory.js";
import { type SynthProgress, synthInventory, synthesize } from "../data/synth/synth.js";
import { type Progress, createProgress } from "../util/progress.js";
import { withFolderLock } from "../util/lock.js";
import { warningPrinter } from "./flags.js";
import { parseFloatFlag, parseIntFlag, parseJobs, parseNameList } from "./options.js";

interface SynthFlags {
  out?: string;
  classes?: string;
  perClass?: string;
  seconds?: string;
  sampleRate?: string;
  sources?: string;
  exclude?: string;
  groupWeights?: string;
  soundfonts?: string;
  transforms?: boolean;
  layers?: string;
  seed?: string;
  jobs?: string;
  overwrite?: boolean;
  quiet?: boolean;
  listTimbres?: boolean;
}

/** Turns the flags into a config input; absent flags stay undefined so the schema's defaults apply. */
export function synthFlagsToConfig(flags: SynthFlags): SynthConfigInput {
  const config: SynthConfigInput = {};
  if (flags.out !== undefined) config.outDir = flags.out;
  if (flags.classes !== undefined) config.classes = parseNameList("--classes", flags.classes);
  if (flags.perClass !== undefined) config.perClass = parseIntFlag("--per-class", flags.perClass, { min: 1 });
  if (flags.seconds !== undefined)
    config.seconds = parseFloatFlag("--seconds", flags.seconds, { min: 0.05, max: 60 });
  if (flags.sampleRate !== undefined)
    config.sampleRate = parseIntFlag("--sample-rate", flags.sampleRate, { min: 8000, max: 32000 });
  if (flags.sources !== undefined) {
    config.sources = flags.sources.trim() === "all" ? "all" : parseNameList("--sources", flags.sources);
  }
  if (flags.exclude !== undefined) config.exclude = parseNameList("--exclude", flags.exclude);
  if (flags.groupWeights !== undefined) config.groupWeights = parseGroupWeights(flags.groupWeights);
  if (flags.soundfonts !== undefined) {
    if (flags.sources !== undefined) throw new UsageError("--soundfonts and --sources: give one of them");
    config.soundfonts =
      flags.soundfonts.trim() === "all" ? "all" : parseNameList("--soundfonts", flags.soundfonts);
  }
  if (flags.transforms === false) config.transforms = false;
  if (flags.layers !== undefined)
    config.layers = parseFloatFlag("--layers", flags.layers, { min: 0, max: 1 });
  if (flags.seed !== undefined) config.seed = parseIntFlag("--seed", flags.seed);
  return config;
}

/** Parses `--group-weights sonivox=0.3,physical=2`. */
function parseGroupWeights(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of parseNameList("--group-weights", value)) {
    const m = /^([^=]+)=([0-9]*\.?[0-9]+)$/.exec(item);
    if (m === null)
      throw new UsageError(`--group-weights: expected group=weight items, e.g. sonivox=0.3; got "${item}"`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Registers `stemscope synth`. */
export function registerSynthCommand(program: Command): void {
  const d = SynthConfigSchema.parse({});
  program
    .command("synth")
    .description(
      "Render a raw_data library of single-instrument clips from soundfonts, sample libraries and our models: <out>/<class>/<id>.wav (16-bit mono) and <out>/manifest.jsonl (source, group, preset, transformations per clip).",
    )
    .option("--out <dir>", `output raw_data folder (default: ${d.outDir})`)
    .option("--classes <list>", `comma-separated classes (default: ${d.classes.join(",")})`)
    .option("--per-class <n>", `clips per class (default: ${d.perClass})`)
    .option("--seconds <s>", `clip length (default: ${d.seconds})`)
    .option("--sample-rate <hz>", `output sample rate; rendering is at 32 kHz (default: ${d.sampleRate})`)
    .option(
      "--sources <list>",
      `all, or comma-separated groups (${SOURCE_GROUPS.map((g) => g.id).join(", ")}) and/or .sf2/.sf3 paths (default: ${d.sources})`,
    )
    .option("--exclude <groups>", "comma-separated groups to leave out, e.g. a320u (leave-one-group-out)")
    .option(
      "--group-weights <list>",
      "relative group weights, e.g. sonivox=0.3,physical=2 (defaults: sonivox 0.3, sonicpi 0.5, others 1)",
    )
    .option(
      "--soundfonts <list>",
      "soundfonts only (the older option): all = the four Debian soundfonts, or ids / .sf2 paths",
    )
    .option(
      "--no-transforms",
      "no condition transformations (formant shift, envelopes, EQ, saturation, rooms)",
    )
    .option(
      "--layers <p>",
      `probability (0–1) that a clip is a layered patch: a second timbre of its class and source group plays the same notes, slightly detuned and late (default: ${d.layers})`,
    )
    .option("--seed <n>", `seed of every random choice (default: ${d.seed})`)
    .option("--jobs <n>", "worker threads (default: CPU cores); the output does not depend on it")
    .option("--overwrite", "re-render clips made with another configuration")
    .option("--quiet", "no progress output")
    .option(
      "--list-timbres",
      "print the presets per class and source group and the distinct recorded timbres, render nothing",
    )
    .action(async (flags: SynthFlags, command: Command) => {
      const config = synthFlagsToConfig(flags);
      if (flags.listTimbres === true) {
        const { groups, rows } = await synthInventory(config);
        process.stdout.write(`${formatInventory(rows, groups)}\n`);
        return;
      }
      const jobs = parseJobs("--jobs", flags.jobs);
      let bar: Progress | undefined;
      const t0 = performance.now();
      const outDir = config.outDir ?? SynthConfigSchema.parse({}).outDir;
      // synthesize() writes synth.json before its first clip: lock the folder for the whole run.
      const result = await withFolderLock(
        outDir,
        "synth",
        () =>
          synthesize(config, {
            jobs,
            overwrite: flags.overwrite === true,
            onProgress: (event: SynthProgress) => {
              if (event.phase !== "render") return;
              bar ??= createProgress({
                label: "synth",
                total: event.total,
                start: event.done,
                quiet: flags.quiet === true,
              });
              bar.update(event.done);
            },
          }),
        warningPrinter(command),
      );
      bar?.stop();
      const seconds = (performance.now() - t0) / 1000;
      process.stdout.write(
        `${result.config.outDir}: ${result.clips} clips of ${result.config.classes.length} classes from ${result.sources.map((s) => s.group).join(", ")}; rendered ${result.written} in ${seconds.toFixed(1)} s, kept ${result.skipped}\nmanifest: ${result.manifestPath}\n`,
      );
    });
}
