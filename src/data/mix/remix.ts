/**
 * Mixtures drawn afresh (Demucs-style remixing): a raw_data clip library is loaded once into memory
 * and every training step draws new mixtures from it — which classes, which clips, where in them and
 * at what gains — so a longer run sees new mixtures instead of the same fixed set again. The
 * arithmetic of one mixture is `mix`'s (renderMixture: crop, gain, common peak normalisation, 16-bit
 * quantisation with mixture = Σ sources exactly), so a drawn mixture is one that `stemscope mix`
 * could have written.
 *
 * Clips are split into a training and a validation side by a seeded hash of their names (per class,
 * as `mix --split-by clip`), and whole source groups of the manifest (e.g. `a320u`) can be held out
 * of both, for leave-one-group-out measurements.
 */
import { join } from "node:path";
import { loadAudio } from "../../audio/index.js";
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
  /** Mono audio at the pool's sample rate, 16-bit integers (half the memory of float32). */
  audio: Int16Array;
}

/** A raw_data library in memory. */
export interface ClipPool {
  dir: string;
  /** Class names (the folder names), sorted by code point. */
  classes: string[];
  sampleRate: number;
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
  const clips: PoolClip[] = [];
  options.onProgress?.(0, wanted.length);
  for (const w of wanted) {
    const { samples } = await loadAudio(join(dir, w.key), { sampleRate: options.sampleRate });
    const audio = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const v = Math.round(samples[i]! * 32767);
      audio[i] = v > 32767 ? 32767 : v < -32767 ? -32767 : v;
    }
    clips.push({ ...w, audio });
    if (clips.length % 256 === 0 || clips.length === wanted.length)
      options.onProgress?.(clips.length, wanted.length);
  }
  const libraryKeys = folders.map((f) => f.files.map((file) => `${f.name}/${file}`));
  return { dir, classes, sampleRate: options.sampleRate, clips, groups, heldOut: holdOut, libraryKeys };
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
  readonly #clips: Int16Array[];
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
    // 16-bit clips render as float ones would: the peak normalisation cancels their scale.
    this.#clips = pool.clips.map((clip) => clip.audio);
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
  render(tasks: readonly MixTask[]): RemixedBatch {
    const batch: RemixedBatch = { mixtures: [], sources: [], labels: [] };
    for (const task of tasks) {
      let rendered;
      try {
        rendered = renderMixture(this.#clips, task, this.#render);
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
  draw(n: number, random: Random): RemixedBatch {
    return this.render(Array.from({ length: n }, () => this.task(random)));
  }
}
