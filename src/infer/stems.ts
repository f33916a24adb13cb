/**
 * Writing a separation to disk: `<out>/<track>/<instrument>.wav` for each stem and
 * `<out>/<track>/predictions.json`, all or nothing: a whole Separation at once (writeSeparation), or
 * block by block as a streamed separation comes (StemFolderWriter, separateToFolder).
 */
import { existsSync } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { z } from "zod";
import { encodeWav } from "../audio/wav.js";
import { parseSettings, StemscopeError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { isRunning } from "../util/lock.js";
import {
  InferenceError,
  type Prediction,
  type SeparateOptions,
  type Separation,
  type StemLayout,
  type StemscopeModel,
  type StemSink,
} from "./model.js";
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
  checkStemNames(
    file,
    separation.stems.map((s) => s.name),
  );
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
  const record = stemsRecord(
    file,
    separation.prediction,
    separation.stems.map((s) => s.name),
    {
      sampleRate: separation.sampleRate,
      channels: separation.mixture.length,
    },
  );
  const temp = await partialFolder(dir, warn);
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
    await publishFolder(temp, dir, record);
  } catch (error) {
    throw await failedFolder(temp, dir, error);
  }
  return names.map((name) => join(dir, name));
}

/** Refuses instrument names that are not plain file names. */
function checkStemNames(file: string, names: readonly string[]): void {
  for (const name of names) {
    if (!/^[\w.+-]+$/u.test(name) || name.startsWith(".")) {
      throw new InferenceError(`${file}: instrument name "${name}" cannot be used as a file name`);
    }
  }
}

/** predictions.json of a separated track. */
function stemsRecord(
  file: string,
  prediction: Prediction,
  names: readonly string[],
  format: { sampleRate: number; channels: number },
): Record<string, unknown> {
  return {
    ...predictionRecord(file, prediction),
    stemSampleRate: format.sampleRate,
    stemChannels: format.channels,
    stems: names.map((name) => ({ name, file: `${name}.wav` })),
  };
}

/** A fresh `<dir>.partial-<pid>` folder (the stale ones of killed runs beside it removed first). */
async function partialFolder(dir: string, warn: (message: string) => void): Promise<string> {
  await removeStalePartials(dirname(dir), warn);
  const temp = `${dir}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  return temp;
}

/** Writes predictions.json into the finished `temp` folder and puts it in place of `dir`. */
async function publishFolder(temp: string, dir: string, record: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(join(temp, "predictions.json"), `${JSON.stringify(record, null, 2)}\n`);
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  await rename(temp, dir);
}

/** Removes `temp` after a failure; the error to throw (ours as is, others naming `dir`). */
async function failedFolder(temp: string, dir: string, error: unknown): Promise<unknown> {
  await rm(temp, { recursive: true, force: true });
  if (error instanceof StemscopeError) return error;
  return new InferenceError(`${dir}: cannot write the stems (${(error as Error).message})`, { cause: error });
}

/** Frames per block when a rescaled stem is converted from float32 to 16-bit PCM. */
const CONVERT_FRAMES = 65536;

/** One stem's WAV file being written: header first (sizes patched at the end), then its data. */
class WavAppender {
  /** Bytes of data written. */
  private dataBytes = 0;
  private readonly headerBytes: number;
  clipped = 0;
  peak = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly header: Uint8Array,
    private readonly encoding: "pcm16" | "float32",
    readonly sampleRate: number,
  ) {
    this.headerBytes = header.length;
  }

  /** Creates `path` with `channels` channels of `encoding` (encodeWav's header, sizes 0 for now). */
  static async create(
    path: string,
    encoding: "pcm16" | "float32",
    sampleRate: number,
    channels: number,
  ): Promise<WavAppender> {
    const empty = Array.from({ length: channels }, () => new Float32Array(0));
    const { bytes } = encodeWav(empty, sampleRate, { encoding });
    const file = await open(path, "w");
    await file.write(bytes, 0, bytes.length, 0);
    return new WavAppender(file, bytes, encoding, sampleRate);
  }

  /** Appends frames (one array per channel), as encodeWav encodes them (pcm16: clamped). */
  async append(channels: readonly Float32Array[]): Promise<void> {
    if ((channels[0]?.length ?? 0) === 0) return;
    const { bytes, report } = encodeWav([...channels], this.sampleRate, {
      encoding: this.encoding,
      clipMode: "clamp",
    });
    const data = bytes.subarray(this.headerBytes);
    if (this.headerBytes - 8 + this.dataBytes + data.length > 0xffffffff)
      throw new InferenceError(
        "the stem is too large for a RIFF WAV file (4 GiB limit); use a shorter input",
      );
    await this.file.write(data, 0, data.length, this.headerBytes + this.dataBytes);
    this.dataBytes += data.length;
    this.clipped += report.clippedSamples;
    this.peak = Math.max(this.peak, report.peak);
  }

  /** Patches the sizes (RIFF, data, and float32's fact frames) and closes the file. */
  async close(): Promise<void> {
    const header = this.header.slice();
    const view = new DataView(header.buffer);
    view.setUint32(4, this.headerBytes - 8 + this.dataBytes, true);
    view.setUint32(this.headerBytes - 4, this.dataBytes, true);
    if (this.encoding === "float32") {
      const channels = view.getUint16(22, true);
      view.setUint32(46, this.dataBytes / (4 * channels), true);
    }
    await this.file.write(header, 0, header.length, 0);
    await this.file.close();
  }

  /** Closes without patching (the file is being thrown away). */
  async abandon(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

/**
 * A {@link StemSink} that writes the stems of one track to `<dir>/<instrument>.wav` as they come,
 * and predictions.json at the end, into a `<dir>.partial-<pid>` folder that replaces `dir` only when
 * everything is written (as {@link writeSeparation}, with the same bytes). 16-bit stems rescaled
 * together (clipMode rescale) need the common peak first: they are written as float32 and converted
 * at the end, block by block.
 */
export class StemFolderWriter implements StemSink {
  private readonly encoding: "pcm16" | "float32";
  private readonly clipMode: "clamp" | "rescale";
  private readonly warn: (message: string) => void;
  private temp: string | undefined;
  private names: string[] = [];
  private format = { sampleRate: 0, channels: 0 };
  private prediction: Prediction | undefined;
  private writers: WavAppender[] = [];

  constructor(
    readonly dir: string,
    /** The input's name, for predictions.json and messages. */
    readonly file: string,
    options: WriteStemsOptions = {},
  ) {
    const { onWarning, ...rest } = options;
    const settings = parseSettings(WriteStemsOptionsSchema, rest, "stem options");
    this.encoding = settings.encoding;
    this.clipMode = settings.clipMode;
    this.warn = onWarning ?? (() => undefined);
  }

  /** Whether the stems are first written as float32 (to be rescaled together at the end). */
  private get deferred(): boolean {
    return this.encoding === "pcm16" && this.clipMode === "rescale";
  }

  async start(layout: StemLayout): Promise<void> {
    checkStemNames(this.file, layout.names);
    this.names = layout.names;
    this.format = { sampleRate: layout.sampleRate, channels: layout.channels };
    this.prediction = layout.prediction;
    const temp = await partialFolder(this.dir, this.warn);
    this.temp = temp;
    for (const name of this.names) {
      const path = join(temp, this.deferred ? `${name}.f32.wav` : `${name}.wav`);
      this.writers.push(
        await WavAppender.create(
          path,
          this.deferred ? "float32" : this.encoding,
          layout.sampleRate,
          layout.channels,
        ),
      );
    }
  }

  async write(stems: readonly (readonly Float32Array[])[]): Promise<void> {
    for (const [i, writer] of this.writers.entries()) await writer.append(stems[i]!);
  }

  /**
   * Finishes the files, writes predictions.json and puts the folder in place of `dir`.
   * @returns the paths of the stem files, in stem order
   */
  async finish(): Promise<string[]> {
    const temp = this.temp;
    if (temp === undefined || this.prediction === undefined)
      throw new RangeError("StemFolderWriter: finish before start");
    for (const writer of this.writers) await writer.close();
    const peak = Math.max(0, ...this.writers.map((w) => w.peak));
    if (this.deferred) {
      const scale = peak > 1 ? 1 / peak : 1;
      if (scale !== 1)
        this.warn(
          `${this.dir}: stems rescaled by ${scale.toPrecision(6)} (common peak ${peak.toFixed(4)}) to avoid clipping`,
        );
      this.writers = [];
      for (const name of this.names) this.writers.push(await this.convert(join(temp, name), scale));
    }
    this.writers.forEach((writer, i) => {
      if (writer.clipped > 0)
        this.warn(
          `${join(this.dir, `${this.names[i]}.wav`)}: clipped ${writer.clipped} samples to ±1 (peak ${writer.peak.toFixed(4)}); use \`clipMode\` rescale, or write float32 (\`encoding\`)`,
        );
    });
    await publishFolder(temp, this.dir, stemsRecord(this.file, this.prediction, this.names, this.format));
    return this.names.map((name) => join(this.dir, `${name}.wav`));
  }

  /** `<base>.f32.wav` (float32) → `<base>.wav` (16-bit PCM of the samples × scale), block by block. */
  private async convert(base: string, scale: number): Promise<WavAppender> {
    const { channels, sampleRate } = this.format;
    const source = await open(`${base}.f32.wav`, "r");
    const target = await WavAppender.create(`${base}.wav`, "pcm16", sampleRate, channels);
    try {
      const header = 58; // encodeWav's float32 header
      const frameBytes = 4 * channels;
      const frames = ((await source.stat()).size - header) / frameBytes;
      const bytes = new Uint8Array(CONVERT_FRAMES * frameBytes);
      for (let first = 0; first < frames; first += CONVERT_FRAMES) {
        const count = Math.min(CONVERT_FRAMES, frames - first);
        await source.read(bytes, 0, count * frameBytes, header + first * frameBytes);
        const view = new DataView(bytes.buffer);
        const block = Array.from({ length: channels }, () => new Float32Array(count));
        for (let i = 0, p = 0; i < count; i++)
          for (let c = 0; c < channels; c++, p += 4) block[c]![i] = view.getFloat32(p, true) * scale;
        await target.append(block);
      }
      await target.close();
    } catch (error) {
      await target.abandon();
      throw error;
    } finally {
      await source.close();
    }
    await rm(`${base}.f32.wav`);
    return target;
  }

  /** Removes what was written (after a failure). */
  async abort(): Promise<void> {
    for (const writer of this.writers) await writer.abandon();
    if (this.temp !== undefined) await rm(this.temp, { recursive: true, force: true });
  }
}

/**
 * Separates `file` with `model` in bounded memory (StemscopeModel.separateFileTo) and writes its
 * stems into `dir` as they come, as {@link writeSeparation} writes a whole separation (same files,
 * same bytes to float rounding; all or nothing).
 * @returns the prediction and the stem files' paths in stem order
 */
export async function separateToFolder(
  model: StemscopeModel,
  file: string,
  dir: string,
  options: SeparateOptions & WriteStemsOptions = {},
): Promise<{ prediction: Prediction; files: string[] }> {
  const { encoding, clipMode, onWarning, ...separateOptions } = options;
  const writer = new StemFolderWriter(dir, file, { encoding, clipMode, onWarning });
  try {
    const prediction = await model.separateFileTo(file, writer, separateOptions);
    return { prediction, files: await writer.finish() };
  } catch (error) {
    await writer.abort();
    if (error instanceof StemscopeError) throw error;
    throw new InferenceError(`${dir}: cannot write the stems (${(error as Error).message})`, {
      cause: error,
    });
  }
}
