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
 * clip length (2 s) every `hopSeconds`; see windows.ts for the window plan and the summary. The
 * model itself — features, the batched forward, naming, masks — is the Separator's (src/separator/).
 */
import { z } from "zod";
import { loadAudio } from "../audio/load.js";
import { resample } from "../audio/resample.js";
import { parseSettings } from "../errors.js";
import { bestAssignment } from "../separator/assignment.js";
import { InferenceError } from "../separator/errors.js";
import {
  type InstrumentProbability,
  playProbabilities,
  rankInstruments,
  sourceClasses,
} from "../separator/naming.js";
import { type LoadOptions, openModelFolder, Separator } from "../separator/separator.js";
import { OverlapAdd } from "./overlap-add.js";
import { planWindows, rmsDb, summarise, type WindowPlan, windowSamples } from "./windows.js";

export { InferenceError } from "../separator/errors.js";

/** Inference settings and their defaults (here and nowhere else). */
export const InferenceOptionsSchema = z
  .object({
    /** Seconds between window starts. */
    hopSeconds: z.number().positive().default(1),
    /** Windows per forward pass. */
    batchSize: z.number().int().min(1).max(4096).default(16),
    /** Windows whose RMS is below this many dBFS are silent: marked, and left out of the summary. */
    silenceDb: z.number().max(0).default(-60),
    /**
     * File-level probability from the windows': `mean` (robust to one-window mistakes) or `max`
     * (catches an instrument that plays only briefly).
     */
    summary: z.enum(["mean", "max"]).default("mean"),
    /**
     * bfloat16 arithmetic (CPU autocast; faster on CPUs with AVX512-BF16 / AMX, results differ from
     * float32 in the 2nd–3rd digit).
     */
    bf16: z.boolean().default(false),
    /** The input's name for messages (e.g. its file path). */
    name: z.string().default("audio"),
  })
  .strict();
/** Inference settings with every default filled in. */
export type InferenceSettings = z.output<typeof InferenceOptionsSchema>;

/** Options of {@link StemscopeModel.predict} and {@link StemscopeModel.separate}. */
export type InferenceOptions = z.input<typeof InferenceOptionsSchema> & {
  /** Called after each batch with windows done and the total. */
  onProgress?: (done: number, total: number) => void;
};

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

/** Model outputs of every window. */
interface WindowOutputs {
  windows: WindowPlan[];
  /** Per window: [K, classes] softmax probabilities. */
  probabilities: Float64Array[];
  /** Per window: K separated planes [nMels, size] (only when asked for). */
  separated: Float32Array[][];
}

/** Yields to the event loop (progress output, signals, Node-API finalizers). */
const yieldToLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A loaded model folder, ready for inference: a {@link Separator} with sliding-window predict and
 * separate. Call {@link dispose} when done to free its weights.
 */
export class StemscopeModel extends Separator {
  /** Window length, seconds (the model's clip length). */
  get windowSeconds(): number {
    return this.clipSeconds;
  }

  /**
   * Which instruments play.
   * @param samples mono audio, any length ≥ 1 sample
   * @param sampleRate its rate in Hz (resampled to the model's rate when different)
   * @throws InferenceError for empty or silent audio (every window below `silenceDb`); ParameterError
   *   for an invalid option
   */
  async predict(
    samples: Float32Array,
    sampleRate: number,
    options: InferenceOptions = {},
  ): Promise<Prediction> {
    const { settings, onProgress } = this.settings(options);
    const audio = this.prepare(samples, sampleRate, settings);
    const outputs = await this.run(audio, settings, false, onProgress);
    return this.describe(audio, outputs, settings);
  }

  /**
   * Separates the audio into K stems, named by the K instruments with the highest file-level
   * probability. Each window's sources are assigned to those names by the assignment that
   * maximises the summed probabilities, then windows are cross-faded by overlap-add; the stems sum
   * to the (resampled) mixture up to iSTFT round-off.
   * @throws InferenceError for empty or silent audio, or a hop that leaves gaps between windows
   */
  async separate(
    samples: Float32Array,
    sampleRate: number,
    options: InferenceOptions = {},
  ): Promise<Separation> {
    const { settings, onProgress } = this.settings(options);
    const audio = this.prepare(samples, sampleRate, settings);
    if (settings.hopSeconds > this.windowSeconds) {
      throw new InferenceError(
        `${settings.name}: a \`hopSeconds\` of ${settings.hopSeconds} s leaves gaps between the ${this.windowSeconds} s windows; separation needs ≤ ${this.windowSeconds} s`,
      );
    }
    // Progress counts each window twice: once through the model, once through the masks and iSTFT.
    const outputs = await this.run(
      audio,
      settings,
      true,
      onProgress && ((done, total) => onProgress(done, 2 * total)),
    );
    const prediction = this.describe(audio, outputs, settings);
    const names = prediction.instruments.slice(0, this.sources).map((i) => i.name);
    const stemClass = names.map((n) => this.classes.indexOf(n));
    const c = this.classes.length;
    const adders = names.map(() => new OverlapAdd(audio.length, this.featurizer.clipLength));
    const total = outputs.windows.length;
    for (let w = 0; w < total; w++) {
      const window = outputs.windows[w]!;
      const probs = outputs.probabilities[w]!;
      // source s goes to stem best[s]: the assignment of most summed probability
      const best = bestAssignment(
        Array.from({ length: this.sources }, (_, s) => stemClass.map((cls) => -probs[s * c + cls]!)),
      );
      const signals = this.featurizer.stems(windowSamples(audio, window), outputs.separated[w]!);
      signals.forEach((signal, s) => adders[best[s]!]!.add(window.start, signal));
      onProgress?.(total + w + 1, 2 * total);
      if (w % 4 === 3) await yieldToLoop();
    }
    const stems = names.map((name, i) => ({ name, samples: adders[i]!.result() }));
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

  private settings(options: InferenceOptions): {
    settings: InferenceSettings;
    onProgress: InferenceOptions["onProgress"];
  } {
    const { onProgress, ...rest } = options;
    return { settings: parseSettings(InferenceOptionsSchema, rest, "inference options"), onProgress };
  }

  private prepare(samples: Float32Array, sampleRate: number, settings: InferenceSettings): Float32Array {
    if (samples.length === 0) throw new InferenceError(`${settings.name}: no samples`);
    if (!(sampleRate > 0 && Number.isFinite(sampleRate)))
      throw new InferenceError(
        `${settings.name}: sample rate must be a positive number of Hz, got ${sampleRate}`,
      );
    const rate = this.features.sampleRate;
    return sampleRate === rate ? samples : resample(samples, sampleRate, rate);
  }

  /** Every window through the batched forward: probabilities (and separated planes). */
  private async run(
    audio: Float32Array,
    settings: InferenceSettings,
    keepSeparated: boolean,
    onProgress: InferenceOptions["onProgress"],
  ): Promise<WindowOutputs> {
    const hop = Math.max(1, Math.round(settings.hopSeconds * this.features.sampleRate));
    const windows = planWindows(audio.length, this.featurizer.clipLength, hop);
    const probabilities: Float64Array[] = [];
    const separated: Float32Array[][] = [];
    for (let b0 = 0; b0 < windows.length; b0 += settings.batchSize) {
      const batch = windows.slice(b0, b0 + settings.batchSize);
      const out = await this.analyse(
        batch.map((w) => windowSamples(audio, w)),
        { planes: keepSeparated, bf16: settings.bf16 },
      );
      for (let i = 0; i < batch.length; i++) {
        probabilities.push(out.probabilitiesOf(i));
        if (keepSeparated) separated.push(out.planesOf(i));
      }
      onProgress?.(Math.min(windows.length, b0 + batch.length), windows.length);
      await yieldToLoop();
    }
    return { windows, probabilities, separated };
  }

  private describe(audio: Float32Array, outputs: WindowOutputs, settings: InferenceSettings): Prediction {
    const rate = this.features.sampleRate;
    const c = this.classes.length;
    const warnings: string[] = [];
    const windowSeconds = this.windowSeconds;
    if (audio.length < this.featurizer.clipLength) {
      warnings.push(
        `${settings.name}: ${(audio.length / rate).toFixed(2)} s is shorter than one ${windowSeconds} s window; zero-padded to ${windowSeconds} s`,
      );
    }
    const plays: Float64Array[] = [];
    const silent: boolean[] = [];
    const windows: WindowPrediction[] = outputs.windows.map((w, i) => {
      const probs = outputs.probabilities[i]!;
      const p = playProbabilities(probs, c);
      const level = rmsDb(audio, w.start, w.start + w.length);
      const isSilent = !(level >= settings.silenceDb);
      plays.push(p);
      silent.push(isSilent);
      return {
        start: w.start / rate,
        end: Math.min(audio.length, w.start + w.length) / rate,
        rmsDb: level,
        silent: isSilent,
        instruments: rankInstruments(p, this.classes),
        sources: sourceClasses(probs, c).map((best, s) => ({
          name: this.classes[best]!,
          probability: probs[s * c + best]!,
        })),
      };
    });
    if (silent.every((s) => s)) {
      const loudest = Math.max(...windows.map((w) => w.rmsDb));
      throw new InferenceError(
        `${settings.name}: audio is silent (every window is below ${settings.silenceDb} dBFS RMS; loudest ${Number.isFinite(loudest) ? `${loudest.toFixed(1)} dBFS` : "digital silence"}); nothing to predict`,
      );
    }
    const summary = summarise(plays, silent, c, settings.summary);
    return {
      instruments: rankInstruments(summary, this.classes),
      windows,
      durationSeconds: audio.length / rate,
      sampleRate: rate,
      windowSeconds,
      hopSeconds: settings.hopSeconds,
      warnings,
    };
  }
}

/**
 * Loads a model folder (config.json + weights.safetensors, see src/model/folder.ts) for inference.
 * @param dir the folder; default: the packaged `models/default`
 * @param options.backend which backend runs the model (default "libtorch")
 * @throws ModelFolderError / SafetensorsError naming the file (missing folder, unsupported
 *   formatVersion, weights that do not fit), InferenceError when the default model is not installed,
 *   ParameterError for an unknown backend
 */
export async function loadModel(dir?: string, options: LoadOptions = {}): Promise<StemscopeModel> {
  return new StemscopeModel(...(await openModelFolder(dir, options)));
}
