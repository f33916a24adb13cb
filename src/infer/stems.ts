/**
 * Writing a separation to disk: `<out>/<track>/<instrument>.wav` for each stem and
 * `<out>/<track>/predictions.json`, all or nothing.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { z } from "zod";
import { encodeWav } from "../audio/wav.js";
import { parseSettings, StemscopeError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { isRunning } from "../util/lock.js";
import { InferenceError, type Separation } from "./model.js";
import { predictionRecord } from "./output.js";

/** How stems are written, and the defaults (here and nowhere else). */
export const WriteStemsOptionsSchema = z
  .object({
    /** `pcm16` (16-bit PCM) or `float32`. */
    encoding: z.enum(["pcm16", "float32"]).default("pcm16"),
    /**
     * For pcm16, samples beyond ±1: `clamp` clips them; `rescale` scales every stem of the track by
     * the same factor (1 / the largest peak), so the stems still sum to a scaled mixture.
     */
    clipMode: z.enum(["clamp", "rescale"]).default("clamp"),
  })
  .strict();

/** Options of {@link writeSeparation}. */
export type WriteStemsOptions = z.input<typeof WriteStemsOptionsSchema> & {
  /** Notices (clipping, rescaling). Default: ignored. */
  onWarning?: (message: string) => void;
};

/** The folder name of a track: the file name without its extension, e.g. `song` for `a/song.mp3`. */
export function trackName(file: string): string {
  const base = basename(file);
  const ext = extname(base);
  return ext.length > 0 && ext.length < base.length ? base.slice(0, -ext.length) : base;
}

/** The temporary folder of a track being written: `<track>.partial-<pid>`. */
const PARTIAL_FOLDER = /^.+\.partial-(\d+)$/u;

/**
 * Removes the `<track>.partial-<pid>` folders in `outDir` left by runs that were killed while writing
 * (their pid no longer runs); a running writer's folder is kept.
 * @param onNote told of each folder removed
 * @returns the paths removed
 */
export async function removeStalePartials(
  outDir: string,
  onNote: (message: string) => void = () => undefined,
): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(outDir, { withFileTypes: true });
  } catch {
    return []; // no folder yet: nothing left over
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = PARTIAL_FOLDER.exec(entry.name)?.[1];
    if (!entry.isDirectory() || pid === undefined) continue;
    if (Number(pid) === process.pid || isRunning(Number(pid))) continue;
    const path = join(outDir, entry.name);
    await rm(path, { recursive: true, force: true });
    removed.push(path);
    onNote(`${path}: removed the unfinished output of a stopped run (pid ${pid})`);
  }
  return removed;
}

/**
 * Writes the stems (`<instrument>.wav`, the separation's rate and channels) and `predictions.json` of
 * one track into `dir`. Stems are encoded and written one at a time into a temporary sibling folder
 * that replaces `dir` at the end, so an error leaves no partial output (and an earlier result in
 * `dir` is replaced only on success). The temporary folders of killed runs beside `dir` are removed
 * first (said through `onWarning`).
 * @returns the paths of the written stem files, in stem order
 */
export async function writeSeparation(
  dir: string,
  file: string,
  separation: Separation,
  options: WriteStemsOptions = {},
): Promise<string[]> {
  const { onWarning, ...rest } = options;
  const { encoding, clipMode } = parseSettings(WriteStemsOptionsSchema, rest, "stem options");
  const warn = onWarning ?? (() => undefined);
  for (const stem of separation.stems) {
    if (!/^[\w.+-]+$/u.test(stem.name) || stem.name.startsWith(".")) {
      throw new InferenceError(`${file}: instrument name "${stem.name}" cannot be used as a file name`);
    }
  }
  let scale = 1;
  if (encoding === "pcm16" && clipMode === "rescale") {
    let peak = 0;
    for (const stem of separation.stems)
      for (const channel of stem.channels) for (const v of channel) peak = Math.max(peak, Math.abs(v));
    if (peak > 1) {
      scale = 1 / peak;
      warn(
        `${dir}: stems rescaled by ${scale.toPrecision(6)} (common peak ${peak.toFixed(4)}) to avoid clipping`,
      );
    }
  }
  const names = separation.stems.map((stem) => `${stem.name}.wav`);
  const record = {
    ...predictionRecord(file, separation.prediction),
    stemSampleRate: separation.sampleRate,
    stemChannels: separation.mixture.length,
    stems: separation.stems.map((s, i) => ({ name: s.name, file: names[i] })),
  };
  await removeStalePartials(dirname(dir), warn);
  const temp = `${dir}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  try {
    for (const [i, stem] of separation.stems.entries()) {
      // one stem's bytes at a time: a long multi-channel track is not held encoded all at once
      const channels = scale === 1 ? stem.channels : stem.channels.map((c) => c.map((v) => v * scale));
      const { bytes, report } = encodeWav(channels, separation.sampleRate, { encoding, clipMode: "clamp" });
      if (report.clippedSamples > 0) {
        warn(
          `${join(dir, names[i]!)}: clipped ${report.clippedSamples} samples to ±1 (peak ${report.peak.toFixed(4)}); use \`clipMode\` rescale, or write float32 (\`encoding\`)`,
        );
      }
      await writeFileAtomic(join(temp, names[i]!), bytes);
    }
    await writeFileAtomic(join(temp, "predictions.json"), `${JSON.stringify(record, null, 2)}\n`);
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (error instanceof StemscopeError) throw error;
    throw new InferenceError(`${dir}: cannot write the stems (${(error as Error).message})`, {
      cause: error,
    });
  }
  return names.map((name) => join(dir, name));
}
