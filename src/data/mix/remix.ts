/**
 * Mixtures drawn afresh (Demucs-style remixing): a raw_data clip library is loaded once (into memory,
 * or only checked and then read from disk at every draw) and every training step draws new mixtures
 * from it — which classes, which clips, where in them and
 * at what gains — so a longer run sees new mixtures instead of the same fixed set again. The
 * arithmetic of one mixture is `mix`'s (renderMixture: crop, gain, common peak normalisation, 16-bit
 * quantisation with mixture = Σ sources exactly), so a drawn mixture is one that `stemscope mix`
 * could have written.
 *
 * Clips are split into a training and a validation side by a seeded hash of their names (per class,
 * as `mix --split-by clip`), and whole source groups of the manifest (e.g. `a320u`) can be held out
 * of both, for leave-one-group-out measurements.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { AudioError, LITTLE_ENDIAN, loadAudio, readWavLayout } from "../../audio/index.js";
import { StemscopeError } from "../../errors.js";
import type { Random } from "../../util/random.js";
import { DataError } from "../errors.js";
import { MANIFEST_NAME, readManifest } from "../formats/manifest.js";
import { int16ToUnitFloat, type MixRenderSettings, type MixTask, renderMixture } from "./render.js";
import { listRawData, trainDataMarks } from "../formats/raw-data.js";

/** One clip of a {@link ClipPool}. */
export interface PoolClip {
  /** `<class>/<file>`, the manifest's key. */
  key: string;
  /** Index into {@link ClipPool.classes}. */
  classIndex: number;
  /** The manifest's source group (e.g. "fluidr3"); "" for a library without a manifest. */
  group: string;
  /** Samples at the pool's sample rate. */
  length: number;
  /**
   * Mono audio at the pool's sample rate, 16-bit integers (half the memory of float32); absent when
   * the pool reads its clips from disk (see {@link readPoolClip}).
   */
  audio?: Int16Array;
  /**
   * Where the clip's samples lie in its file when they can be read as they are — a 16-bit mono WAV
   * at the pool's rate (its header says so); absent: the file is decoded (and resampled) instead.
   */
  pcm?: PcmLayout;
}

/** The samples of a 16-bit mono WAV file: its size, and the byte offset of its first sample. */
export interface PcmLayout {
  fileBytes: number;
  offset: number;
}

/**
 * Where a pool keeps its clips: `memory` reads each once and holds it (2 bytes a sample: ~6 GiB for
 * 48,000 4-s clips at 16 kHz); `disk` reads a 16-bit mono WAV at the pool's rate only by its header
 * when the pool loads (any other file is decoded once to check it) and reads the clip again at every
 * draw (the OS's file cache keeps what fits), so memory no longer grows with the library. Both draw
 * the same samples.
 */
export const CLIP_STORAGES = ["memory", "disk"] as const;
export type ClipStorage = (typeof CLIP_STORAGES)[number];

/** A raw_data library in memory. */
export interface ClipPool {
  dir: string;
  /** Class names (the folder names), sorted by code point. */
  classes: string[];
  sampleRate: number;
  storage: ClipStorage;
  clips: PoolClip[];
  /** Source groups present (sorted), from the manifest; [] without one. */
  groups: string[];
  /** Groups held out (their clips are not in `clips`). */
  heldOut: string[];
  /**
   * Every clip key of each class before the hold-out, so a split ranks clips among the whole
   * library (the same sides as `mix --split-by clip` with the same seed, whatever is held out).
   */
  libraryKeys: string[][];
}

export interface LoadClipPoolOptions {
  /** Hz; clips at other rates are resampled. */
  sampleRate: number;
  /** Class list to use (e.g. a resumed model's); the library must have exactly these folders. */
  classes?: readonly string[];
  /** Manifest source groups to leave out entirely. */
  holdOut?: readonly string[];
  /** Where the clips are kept (default `memory`); see {@link ClipStorage}. */
  storage?: ClipStorage;
  /** Called with clips loaded and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** True when `dir` holds class folders of .wav clips (a raw_data library) and is not a train_data folder. */
export function isClipLibrary(dir: string): boolean {
  if (trainDataMarks(dir).length > 0) return false;
  try {
    return listRawData(dir).some((c) => c.files.length > 0);
  } catch {
    return false;
  }
}

/**
 * Loads every clip of the raw_data library `dir` (minus held-out groups) as mono 16-bit audio at
 * `sampleRate`.
 * @throws DataError for an unusable library (no classes, a class without clips, an unknown group,
 *   held-out groups without a manifest), AudioError naming an undecodable clip
 */
export async function loadClipPool(dir: string, options: LoadClipPoolOptions): Promise<ClipPool> {
  const folders = listRawData(dir).filter((c) => c.files.length > 0);
  const classes = folders.map((c) => c.name);
  if (options.classes !== undefined) {
    const want = [...options.classes];
    if (JSON.stringify(want) !== JSON.stringify(classes)) {
      throw new DataError(
        `${dir}: its class folders (${classes.join(", ")}) are not the model's classes (${want.join(", ")})`,
      );
    }
  }
  if (classes.length < 2) {
    throw new DataError(
      `${dir}: ${classes.length} class folder(s) with clips (${classes.join(", ") || "none"}); training needs at least 2`,
    );
  }
  const manifest = readManifest(dir);
  const groupOf = new Map((manifest ?? []).map((e) => [e.file, e.group ?? e.soundfont]));
  const groups = [...new Set(groupOf.values())].sort();
  const holdOut = [...new Set(options.holdOut ?? [])].sort();
  if (holdOut.length > 0) {
    if (manifest === undefined) {
      throw new DataError(
        `${join(dir, MANIFEST_NAME)}: not found; holding out source groups needs the manifest that \`stemscope synth\` writes`,
      );
    }
    const unknown = holdOut.filter((g) => !groups.includes(g));
    if (unknown.length > 0) {
      throw new DataError(
        `\`holdOut\`: ${unknown.join(", ")} not in ${join(dir, MANIFEST_NAME)}; its groups are ${groups.join(", ")}`,
      );
    }
  }
  const held = new Set(holdOut);
  const wanted: { key: string; classIndex: number; group: string }[] = [];
  folders.forEach((folder, classIndex) => {
    for (const file of folder.files) {
      const key = `${folder.name}/${file}`;
      const group = groupOf.get(key) ?? "";
      if (!held.has(group)) wanted.push({ key, classIndex, group });
    }
  });
  for (let c = 0; c < classes.length; c++) {
    if (!wanted.some((w) => w.classIndex === c)) {
      throw new DataError(
        `${join(dir, classes[c]!)}: no clips left after holding out ${holdOut.join(", ")}; every class needs clips from another group`,
      );
    }
  }
  const storage = options.storage ?? "memory";
  const clips: PoolClip[] = [];
  options.onProgress?.(0, wanted.length);
  for (const w of wanted) {
    // Every clip's header (16-bit mono WAVs at the pool's rate, on disk) or whole file is read here:
    // a clip that cannot be fails now, not mid-run.
    const path = join(dir, w.key);
    const pcm = pcmLayout(path, options.sampleRate);
    if (pcm !== undefined && storage === "disk") {
      clips.push({ ...w, length: pcm.length, pcm: { fileBytes: pcm.fileBytes, offset: pcm.offset } });
    } else {
      const audio =
        pcm !== undefined ? readPcm16(path, pcm, pcm.length) : await decodeClip(path, options.sampleRate);
      clips.push({ ...w, length: audio.length, ...(storage === "memory" ? { audio } : {}) });
    }
    if (clips.length % 256 === 0 || clips.length === wanted.length)
      options.onProgress?.(clips.length, wanted.length);
  }
  const libraryKeys = folders.map((f) => f.files.map((file) => `${f.name}/${file}`));
  return {
    dir,
    classes,
    sampleRate: options.sampleRate,
    storage,
    clips,
    groups,
    heldOut: holdOut,
    libraryKeys,
  };
}

/** The clip at `path` decoded as mono 16-bit samples at `sampleRate` Hz (round(x · 32767)). */
async function decodeClip(path: string, sampleRate: number): Promise<Int16Array> {
  const { samples } = await loadAudio(path, { sampleRate });
  const audio = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * 32767);
    audio[i] = v > 32767 ? 32767 : v < -32767 ? -32767 : v;
  }
  return audio;
}

/**
 * A 16-bit PCM value v as {@link decodeClip} makes it: round(v / 32768 · 32767) in integers
 * (v − v/32768 rounds to v − 1 above 16384 and to v + 1 from −16384 down, Math.round taking halves up).
 */
function poolSample(v: number): number {
  return v > 16384 ? v - 1 : v < -16383 ? v + 1 : v;
}

/** Bytes read of a clip's beginning to find its samples: far more than a canonical 44-byte header. */
const HEADER_BYTES = 4096;

/**
 * Where the samples of the file at `path` lie, when it is a 16-bit mono WAV at `sampleRate` Hz with
 * at least one sample (its header read, not its samples); undefined for anything else (decoded
 * instead, which names any problem) and on a big-endian host.
 */
function pcmLayout(path: string, sampleRate: number): (PcmLayout & { length: number }) | undefined {
  if (!LITTLE_ENDIAN) return undefined;
  let head: Uint8Array;
  let fileBytes: number;
  try {
    const fd = openSync(path, "r");
    try {
      fileBytes = fstatSync(fd).size;
      head = new Uint8Array(Math.min(HEADER_BYTES, fileBytes));
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  let layout;
  try {
    layout = readWavLayout(head, path, fileBytes);
  } catch {
    return undefined;
  }
  const pcm16 = layout.kind === "int" && layout.bitsPerSample === 16 && layout.channels === 1;
  if (!pcm16 || layout.sampleRate !== sampleRate || layout.frames === 0) return undefined;
  return { fileBytes, offset: layout.dataOffset, length: layout.frames };
}

/** The error of a clip whose file changed after the pool was loaded. */
function libraryChanged(path: string, now: string, then: string): DataError {
  return new DataError(
    `${path}: ${now} now, ${then} when training began; the library changed during the run`,
  );
}

/**
 * `length` 16-bit little-endian values at byte `pcm.offset` of the file at `path`, as the pool
 * holds them.
 * @throws DataError when the file is not `pcm.fileBytes` long; AudioError naming it when it cannot be read
 */
function readPcm16(path: string, pcm: PcmLayout, length: number): Int16Array {
  const out = new Int16Array(length);
  const bytes = new Uint8Array(out.buffer);
  let size = 0;
  let read = 0;
  try {
    const fd = openSync(path, "r");
    try {
      size = fstatSync(fd).size;
      if (size === pcm.fileBytes) read = readSync(fd, bytes, 0, bytes.length, pcm.offset);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new AudioError(`${path}: cannot read file (${(error as Error).message})`, { cause: error });
  }
  if (size !== pcm.fileBytes) throw libraryChanged(path, `${size} bytes`, `${pcm.fileBytes}`);
  if (read !== bytes.length) throw new AudioError(`${path}: ends ${bytes.length - read} bytes early`);
  for (let i = 0; i < length; i++) out[i] = poolSample(out[i]!);
  return out;
}

/**
 * Clip `id` of a pool: the held samples, or (disk storage) its samples read from the file again.
 * @throws DataError when the file is not the size or length it was when the pool was loaded (the
 *   library changed during training); AudioError naming it when it cannot be read
 */
export async function readPoolClip(pool: ClipPool, id: number): Promise<Int16Array> {
  const clip = pool.clips[id]!;
  if (clip.audio !== undefined) return clip.audio;
  const path = join(pool.dir, clip.key);
  if (clip.pcm !== undefined) return readPcm16(path, clip.pcm, clip.length);
  const audio = await decodeClip(path, pool.sampleRate);
  if (audio.length !== clip.length) throw libraryChanged(path, `${audio.length} samples`, `${clip.length}`);
  return audio;
}

/** How drawn mixtures are made (mix's rendering settings). */
export interface RemixSettings {
  /** Sources per mixture: K distinct classes. */
  sources: number;
  /** Output length in samples. */
  length: number;
  /** Gain of sources 2…K relative to source 1, dB, uniform in [lo, hi]. */
  gainDb: readonly [number, number];
  /** Peak of the loudest of mixture and sources, fraction of full scale. */
  peak: number;
}

/** A drawn batch of mixtures: audio in [-1, 1] and the class index of each source (ascending). */
export interface RemixedBatch {
  mixtures: Float32Array[];
  sources: Float32Array[][];
  labels: number[][];
}

/**
 * Draws mixtures from one side of a pool: each mixture takes K distinct classes uniformly at random
 * (in ascending class order, like `mix`'s combinations), one clip of each, a random offset in each
 * clip and the gains.
 */
export class Remixer {
  readonly #byClass: number[][];
  readonly #render: MixRenderSettings;

  /**
   * @param clipIds the pool's clips this remixer draws from (e.g. the training side)
   * @throws DataError when a class has no clip among them or there are fewer classes than sources
   */
  constructor(
    readonly pool: ClipPool,
    clipIds: readonly number[],
    readonly settings: RemixSettings,
  ) {
    this.#byClass = pool.classes.map(() => []);
    for (const id of clipIds) this.#byClass[pool.clips[id]!.classIndex]!.push(id);
    const empty = pool.classes.filter((_, c) => this.#byClass[c]!.length === 0);
    if (empty.length > 0)
      throw new DataError(`${pool.dir}: no clips of ${empty.join(", ")} on this side of the split`);
    if (settings.sources > pool.classes.length) {
      throw new DataError(
        `${pool.dir}: ${pool.classes.length} classes cannot make mixtures of ${settings.sources} distinct classes`,
      );
    }
    this.#render = {
      length: settings.length,
      balance: "none",
      offset: "random",
      normalize: "peak",
      peak: settings.peak,
    };
  }

  /** The draws of one mixture from `random`. */
  task(random: Random): MixTask {
    const { sources, gainDb } = this.settings;
    const classes = random.shuffle(this.pool.classes.map((_, c) => c)).slice(0, sources);
    classes.sort((a, b) => a - b);
    const clipIds = classes.map((c) => {
      const ids = this.#byClass[c]!;
      return ids[random.int(ids.length)]!;
    });
    const offsets = classes.map(() => random.float());
    const gainsDb = classes.map((_, j) => (j === 0 ? 0 : random.uniform(gainDb[0], gainDb[1])));
    return { index: 0, clipIds, offsets, gainsDb };
  }

  /** Renders drawn tasks into audio (mixture = Σ sources exactly, as 16-bit values / 32767). */
  async render(tasks: readonly MixTask[]): Promise<RemixedBatch> {
    // The batch's clips, by pool id (a sparse array); read together when they are on disk.
    // 16-bit clips render as float ones would: the peak normalisation cancels their scale.
    const clips: Int16Array[] = [];
    const ids = [...new Set(tasks.flatMap((task) => task.clipIds))];
    await Promise.all(
      ids.map(async (id) => {
        clips[id] = await readPoolClip(this.pool, id);
      }),
    );
    const batch: RemixedBatch = { mixtures: [], sources: [], labels: [] };
    for (const task of tasks) {
      let rendered;
      try {
        rendered = renderMixture(clips, task, this.#render);
      } catch (error) {
        throw error instanceof StemscopeError ? error : new DataError((error as Error).message);
      }
      batch.mixtures.push(int16ToUnitFloat(rendered.mixed));
      batch.sources.push(rendered.sources.map(int16ToUnitFloat));
      batch.labels.push(task.clipIds.map((id) => this.pool.clips[id]!.classIndex));
    }
    return batch;
  }

  /** `n` mixtures drawn from `random`. */
  draw(n: number, random: Random): Promise<RemixedBatch> {
    return this.render(Array.from({ length: n }, () => this.task(random)));
  }
}
