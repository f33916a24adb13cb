/**
 * The one-call inference API:
 *
 * ```ts
 * const model = await loadModel("runs/fast");     // or loadModel() for the packaged default model
 * const result = await model.predict(samples, 44100); // which instruments play, per file and per window
 * const { stems } = await model.separate(samples, 44100); // one signal per source, named by instrument
 * model.dispose();
 * ```
 *
 * Audio of any length and rate is resampled to the model's rate and cut into windows of the model's
 * clip length (2 s) every `hopSeconds` (1 s); see windows.ts for the window plan and the summary.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAudio } from "../audio/load.js";
import { resample } from "../audio/resample.js";
import { F, noGrad, tensor, tidy, withAutocast } from "../engine/index.js";
import { StemscopeError } from "../errors.js";
import { type FeatureConfig } from "../features/config.js";
import { type FeatureExtractor, getExtractor } from "../features/pipeline.js";
import {
  type JointModel,
  type LoadedModelFolder,
  loadModelFolder,
  type ModelFolderConfig,
} from "../model/index.js";
import { OverlapAdd, separateClip } from "./masks.js";
import {
  planWindows,
  rmsDb,
  summarise,
  type SummaryMode,
  type WindowPlan,
  windowSamples,
} from "./windows.js";
import { bestAssignment } from "../separator/assignment.js";
import { type InstrumentProbability, playProbabilities, rankInstruments } from "../separator/naming.js";

/** Inference could not run on this input; the message names the input and what was wrong. */
export class InferenceError extends StemscopeError {}

/** Options of {@link StemscopeModel.predict} and {@link StemscopeModel.separate}. */
export interface InferenceOptions {
  /** Seconds between window starts. Default 1. */
  hopSeconds?: number;
  /** Windows per forward pass. Default 16. */
  batchSize?: number;
  /** Windows whose RMS is below this many dBFS are silent: marked, and left out of the summary. Default −60. */
  silenceDb?: number;
  /**
   * File-level probability from the windows': `mean` (default; robust to one-window mistakes) or
   * `max` (catches an instrument that plays only briefly).
   */
  summary?: SummaryMode;
  /**
   * Run convolutions in bfloat16 (CPU autocast; faster on CPUs with AVX512-BF16 / AMX, results
   * differ from float32 in the 2nd–3rd digit). Default false.
   */
  bf16?: boolean;
  /** The input's name for messages (e.g. its file path). Default "audio". */
  name?: string;
  /** Called after each batch with windows done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One window's prediction. */
export interface WindowPrediction {
  /** Seconds from the start of the audio. */
  start: number;
  end: number;
  /** RMS level, dBFS (−Infinity for digital silence; serialised as null in JSON). */
  rmsDb: number;
  /** Below the silence threshold: shown, but not part of the file-level summary. */
  silent: boolean;
  /** Every class with its play probability 1 − Π_k (1 − p_k(class)), highest first. */
  instruments: InstrumentProbability[];
  /** Each separated source's most likely class and its softmax probability, in source order. */
  sources: InstrumentProbability[];
}

/** What {@link StemscopeModel.predict} returns. */
export interface Prediction {
  /**
   * Every class with its file-level probability (the mean, or with `summary: "max"` the maximum,
   * over non-silent windows of the window's play probability), highest first.
   */
  instruments: InstrumentProbability[];
  windows: WindowPrediction[];
  /** Length of the audio, seconds. */
  durationSeconds: number;
  /** The model's sample rate the audio was analysed at, Hz. */
  sampleRate: number;
  windowSeconds: number;
  hopSeconds: number;
  /** Notices, e.g. that a short input was zero-padded. */
  warnings: string[];
}

/** One separated stem. */
export interface Stem {
  /** The instrument it was assigned to (a class name). */
  name: string;
  /** Mono, at {@link Separation.sampleRate}, as long as the input (after resampling). */
  samples: Float32Array;
}

/** What {@link StemscopeModel.separate} returns. */
export interface Separation {
  /** K stems (K = the model's sources), ordered by file-level probability, highest first. */
  stems: Stem[];
  /** The mixture at the model's rate (what the stems sum to). */
  mixture: Float32Array;
  sampleRate: number;
  prediction: Prediction;
}

/** Raw model outputs of every window. */
interface WindowOutputs {
  windows: WindowPlan[];
  /** Per window: [K, classes] softmax probabilities. */
  probabilities: Float64Array[];
  /** Per window: K separated spectrograms [nMels, size] (only when asked for). */
  separated: Float32Array[][];
}

/** Where the packaged default model lives: `<package root>/models/default`. */
export function defaultModelDir(): string {
  // src/infer/model.ts and dist/infer/model.js both sit two folders below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "models", "default");
}

/**
 * A loaded model folder, ready for inference (eval mode, channels-last, no autograd).
 * Call {@link dispose} when done to free its weights.
 */
export class StemscopeModel {
  readonly model: JointModel;
  readonly config: ModelFolderConfig;
  /** Class names; logit i is classes[i]. */
  readonly classes: string[];
  readonly features: FeatureConfig;
  /** The folder it was loaded from. */
  readonly dir: string;
  private readonly extractor: FeatureExtractor;

  constructor(loaded: LoadedModelFolder, dir: string) {
    this.model = loaded.model;
    this.config = loaded.config;
    this.classes = loaded.classes;
    this.features = loaded.features;
    this.dir = dir;
    this.model.eval();
    this.extractor = getExtractor(this.features);
  }

  /** Sources the model separates (K). */
  get sources(): number {
    return this.config.model.sources;
  }

  /** Window length, seconds (the model's clip length). */
  get windowSeconds(): number {
    return this.extractor.length / this.features.sampleRate;
  }

  /**
   * Which instruments play.
   * @param samples mono audio, any length ≥ 1 sample
   * @param sampleRate its rate in Hz (resampled to the model's rate when different)
   * @throws InferenceError for empty or silent audio (every window below `silenceDb`)
   */
  async predict(
    samples: Float32Array,
    sampleRate: number,
    options: InferenceOptions = {},
  ): Promise<Prediction> {
    const audio = this.prepare(samples, sampleRate, options);
    const outputs = await this.run(audio, options, false);
    return this.describe(audio, outputs, options);
  }

  /**
   * Separates the audio into K stems, named by the K instruments with the highest file-level
   * probability. Each window's sources are assigned to those names by the permutation that
   * maximises the summed probabilities, then windows are cross-faded by overlap-add; the stems sum
   * to the (resampled) mixture up to iSTFT round-off.
   * @throws InferenceError for empty or silent audio
   */
  async separate(
    samples: Float32Array,
    sampleRate: number,
    options: InferenceOptions = {},
  ): Promise<Separation> {
    const audio = this.prepare(samples, sampleRate, options);
    if ((options.hopSeconds ?? 1) > this.windowSeconds) {
      throw new InferenceError(
        `${options.name ?? "audio"}: a hop of ${options.hopSeconds} s leaves gaps between the ${this.windowSeconds} s windows; separation needs hop ≤ ${this.windowSeconds} s`,
      );
    }
    // Progress counts each window twice: once through the model, once through the masks and iSTFT.
    const report = options.onProgress;
    const outputs = await this.run(
      audio,
      { ...options, onProgress: report && ((done, total) => report(done, 2 * total)) },
      true,
    );
    const prediction = this.describe(audio, outputs, options);
    const k = this.sources;
    const names = prediction.instruments.slice(0, k).map((i) => i.name);
    const stemClass = names.map((n) => this.classes.indexOf(n));
    const c = this.classes.length;
    const length = this.extractor.length;
    const adders = names.map(() => new OverlapAdd(audio.length, length));
    const total = outputs.windows.length;
    for (let w = 0; w < total; w++) {
      const window = outputs.windows[w] as WindowPlan;
      const probs = outputs.probabilities[w] as Float64Array;
      // source s goes to stem best[s]: the assignment of most summed probability
      const best = bestAssignment(
        Array.from({ length: k }, (_, s) => stemClass.map((cls) => -(probs[s * c + cls] as number))),
      );
      const clip = windowSamples(audio, window);
      const signals = separateClip(clip, outputs.separated[w] as Float32Array[], this.features);
      for (let s = 0; s < k; s++)
        (adders[best[s] as number] as OverlapAdd).add(window.start, signals[s] as Float32Array);
      report?.(total + w + 1, 2 * total);
      if (w % 4 === 3) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const stems = names.map((name, i) => ({ name, samples: (adders[i] as OverlapAdd).result() }));
    return { stems, mixture: audio, sampleRate: this.features.sampleRate, prediction };
  }

  /**
   * {@link predict} on an audio file (any format loadAudio reads; mixed to mono, resampled).
   * @throws AudioError for unreadable files, InferenceError for silent ones (both name the file)
   */
  async predictFile(path: string, options: InferenceOptions = {}): Promise<Prediction> {
    const loaded = await loadAudio(path, { sampleRate: this.features.sampleRate });
    return this.predict(loaded.samples, loaded.sampleRate, { name: path, ...options });
  }

  /** {@link separate} on an audio file (any format loadAudio reads; mixed to mono, resampled). */
  async separateFile(path: string, options: InferenceOptions = {}): Promise<Separation> {
    const loaded = await loadAudio(path, { sampleRate: this.features.sampleRate });
    return this.separate(loaded.samples, loaded.sampleRate, { name: path, ...options });
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }

  private prepare(samples: Float32Array, sampleRate: number, options: InferenceOptions): Float32Array {
    const name = options.name ?? "audio";
    if (samples.length === 0) throw new InferenceError(`${name}: no samples`);
    if (!(sampleRate > 0 && Number.isFinite(sampleRate)))
      throw new InferenceError(`${name}: sample rate must be a positive number of Hz, got ${sampleRate}`);
    const rate = this.features.sampleRate;
    return sampleRate === rate ? samples : resample(samples, sampleRate, rate);
  }

  /** Features of every window → the model in batches → probabilities (and separated spectrograms). */
  private async run(
    audio: Float32Array,
    options: InferenceOptions,
    keepSeparated: boolean,
  ): Promise<WindowOutputs> {
    const rate = this.features.sampleRate;
    const hopSeconds = options.hopSeconds ?? 1;
    if (!(hopSeconds > 0))
      throw new InferenceError(`hop must be a positive number of seconds, got ${hopSeconds}`);
    const hop = Math.max(1, Math.round(hopSeconds * rate));
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 16));
    const ex = this.extractor;
    const { nMels, size } = this.features;
    const k = this.sources;
    const c = this.classes.length;
    const windows = planWindows(audio.length, ex.length, hop);
    const probabilities: Float64Array[] = [];
    const separated: Float32Array[][] = [];
    for (let b0 = 0; b0 < windows.length; b0 += batchSize) {
      const batch = windows.slice(b0, b0 + batchSize);
      const input = new Float32Array(batch.length * ex.outputSize);
      batch.forEach((w, i) => ex.compute(windowSamples(audio, w), input, i * ex.outputSize));
      const out = noGrad(() =>
        tidy(() => {
          const x = tensor(input, [batch.length, 1, nMels, size]).contiguous("channels_last");
          const y = options.bf16 === true ? withAutocast(() => this.model.forward(x)) : this.model.forward(x);
          return {
            probs: F.softmax(y.logits.float(), 2).toFloat32Array(),
            sep: keepSeparated ? y.separated.float().contiguous().toFloat32Array() : undefined,
          };
        }),
      );
      for (let i = 0; i < batch.length; i++) {
        probabilities.push(Float64Array.from(out.probs.subarray(i * k * c, (i + 1) * k * c)));
        if (out.sep !== undefined) {
          const cell = nMels * size;
          separated.push(
            Array.from({ length: k }, (_, s) => out.sep!.slice((i * k + s) * cell, (i * k + s + 1) * cell)),
          );
        }
      }
      options.onProgress?.(Math.min(windows.length, b0 + batch.length), windows.length);
      // Let progress output and other callbacks through between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { windows, probabilities, separated };
  }

  private describe(audio: Float32Array, outputs: WindowOutputs, options: InferenceOptions): Prediction {
    const name = options.name ?? "audio";
    const rate = this.features.sampleRate;
    const silenceDb = options.silenceDb ?? -60;
    const c = this.classes.length;
    const k = this.sources;
    const warnings: string[] = [];
    const windowSeconds = this.windowSeconds;
    if (audio.length < this.extractor.length) {
      warnings.push(
        `${name}: ${(audio.length / rate).toFixed(2)} s is shorter than one ${windowSeconds} s window; zero-padded to ${windowSeconds} s`,
      );
    }
    const plays: Float64Array[] = [];
    const silent: boolean[] = [];
    const windows: WindowPrediction[] = outputs.windows.map((w, i) => {
      const probs = outputs.probabilities[i] as Float64Array;
      const p = playProbabilities(probs, c);
      const level = rmsDb(audio, w.start, w.start + w.length);
      const isSilent = !(level >= silenceDb);
      plays.push(p);
      silent.push(isSilent);
      const sources: InstrumentProbability[] = [];
      for (let s = 0; s < k; s++) {
        let best = 0;
        for (let j = 1; j < c; j++)
          if ((probs[s * c + j] as number) > (probs[s * c + best] as number)) best = j;
        sources.push({ name: this.classes[best] as string, probability: probs[s * c + best] as number });
      }
      return {
        start: w.start / rate,
        end: Math.min(audio.length, w.start + w.length) / rate,
        rmsDb: level,
        silent: isSilent,
        instruments: rankInstruments(p, this.classes),
        sources,
      };
    });
    if (silent.every((s) => s)) {
      const loudest = Math.max(...windows.map((w) => w.rmsDb));
      throw new InferenceError(
        `${name}: audio is silent (every window is below ${silenceDb} dBFS RMS; loudest ${Number.isFinite(loudest) ? `${loudest.toFixed(1)} dBFS` : "digital silence"}); nothing to predict`,
      );
    }
    const summary = summarise(plays, silent, c, options.summary ?? "mean");
    return {
      instruments: rankInstruments(summary, this.classes),
      windows,
      durationSeconds: audio.length / rate,
      sampleRate: rate,
      windowSeconds,
      hopSeconds: options.hopSeconds ?? 1,
      warnings,
    };
  }
}

/**
 * Loads a model folder (config.json + weights.safetensors, see src/model/folder.ts) for inference.
 * @param dir the folder; default: the packaged `models/default`
 * @throws ModelFolderError / SafetensorsError naming the file (missing folder, unsupported
 *   formatVersion, weights that do not fit), InferenceError when the default model is not installed
 */
export async function loadModel(dir?: string): Promise<StemscopeModel> {
  const folder = dir ?? defaultModelDir();
  if (dir === undefined && !existsSync(join(folder, "config.json"))) {
    throw new InferenceError(
      `no default model: ${folder} is missing (this installation has no trained default model); pass --model <dir> with a folder written by \`stemscope train\``,
    );
  }
  return new StemscopeModel(await loadModelFolder(folder), folder);
}
