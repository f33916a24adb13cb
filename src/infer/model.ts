/**
 * The one-call inference API:
 *
 * ```ts
 * const model = await loadModel("runs/fast");     // or loadModel() for the packaged default model
 * const result = await model.predict(samples, 44100); // which instruments play, per file and per window
 * const { stems } = await model.separate([left, right], 44100); // per source, named by instrument
 * model.dispose();
 * ```
 *
 * Audio of any length and rate is resampled to the model's rate and cut into windows of the model's
 * clip length (2 s) every `hopSeconds`; see windows.ts for the window plan and the summary. The
 * model itself — features, the batched forward, naming, masks — is the Separator's (src/separator/).
 * Stems come at the input's own rate and channels (the model's masks applied to each channel's STFT,
 * src/separator/full-rate.ts), or with `stemFormat: "model"` mono at the model's rate.
 * `predictFile` and `separateFileTo` read the file in blocks and keep memory bounded whatever its
 * length (see separateFileTo); `separate` and `separateFile` return whole arrays.
 *
 * "No instrument" is a result, not an error: audio with no audible window (silence, DC, infrasound;
 * level.ts) is not shown to the model at all, and a model folder with a calibrated rule
 * (config.json `naming.none`, src/separator/naming.ts) rejects files that hold none of its classes
 * (noise, speech). Such a file's prediction has `noInstrument` set and names nothing, and its
 * separation is one stem, `no-instrument`, that is the input itself.
 */
import { z } from "zod";
import { decodeAudioFile, downmixToMono, prepareDecoded } from "../audio/load.js";
import { resample } from "../audio/resample.js";
import { type AudioStream, memoryAudioStream, monoAtRate, openAudioStream } from "../audio/stream.js";
import { releaseFreeMemory } from "../engine/index.js";
import { parseSettings } from "../errors.js";
import { bestAssignment } from "../separator/assignment.js";
import { InferenceError } from "../separator/errors.js";
import {
  type InstrumentProbability,
  type NoneRule,
  noneStatistic,
  playProbabilities,
  rankInstruments,
  rejectsAsNone,
  sourceClasses,
} from "../separator/naming.js";
import { FullRateSeparation } from "../separator/full-rate.js";
import { type LoadOptions, openModelFolder, Separator } from "../separator/separator.js";
import { audibleDb, INFRASONIC_HZ, spectralFlatness } from "./level.js";
import { StreamingOverlapAdd } from "./overlap-add.js";
import { FileStore, type FloatStore, MemoryStore, PlaneStore } from "./spill.js";
import { planWindows, rmsDb, summarise, type WindowPlan } from "./windows.js";

export { InferenceError } from "../separator/errors.js";

/** Inference settings and their defaults (here and nowhere else). */
export const InferenceOptionsSchema = z
  .object({
    /** Seconds between window starts. */
    hopSeconds: z.number().positive().default(1),
    /**
     * Windows per forward pass. The forward's working memory grows with it (the default model: about
     * 16 MB per window, held until the pass ends), not with the audio's length; 4 keeps `separate`
     * and `predict` of a file of any length under 400 MB peak RSS and was measured as fast end to end
     * as 16 (60-s file, 1 thread; README, bench:long).
     */
    batchSize: z.number().int().min(1).max(4096).default(4),
    /**
     * Windows whose RMS, once DC and infrasound (below 20 Hz) are removed, is below this many dBFS
     * are silent: marked, and left out of the summary; with no other window, "no instrument".
     */
    silenceDb: z.number().max(0).default(-60),
    /**
     * Audible windows whose spectral flatness (level.ts `spectralFlatness`: white noise ≈ 0.56, pink
     * ≈ 0.33, clicks ≈ 1; music measured below 0.05 by scripts/calibrate-none.ts) is above this are
     * noise: marked, and left out of the summary; with no other window, "no instrument". 1: never.
     */
    noiseFlatness: z.number().min(0).max(1).default(0.2),
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
    /**
     * Frames per block when a file is read, resampled and separated in blocks (memory per block;
     * results do not depend on it beyond float rounding).
     */
    blockFrames: z.number().int().min(256).default(65536),
    /**
     * A file longer than this many seconds keeps its mono mixture at the model's rate and the
     * model's separated planes in temporary files (os.tmpdir()) instead of memory, so memory does
     * not grow with the length (in memory they take 0.2 MB per second of audio with the default
     * model: 240 s would add 46 MB to the peak).
     */
    spillSeconds: z.number().min(0).default(30),
  })
  .strict();
/** Inference settings with every default filled in. */
export type InferenceSettings = z.output<typeof InferenceOptionsSchema>;

/** Options of {@link StemscopeModel.predict} and {@link StemscopeModel.separate}. */
export type InferenceOptions = z.input<typeof InferenceOptionsSchema> & {
  /** Called after each batch with windows done and the total. */
  onProgress?: (done: number, total: number) => void;
};

/** Separation settings: the inference settings and the stems' format, with the defaults. */
export const SeparateOptionsSchema = InferenceOptionsSchema.extend({
  /**
   * `input`: stems at the input's sample rate and channels (the model's masks carried to each
   * channel's own STFT; above the model's top band, fmax, its top band's mask); `model`: mono at the
   * model's rate, as the model hears the input.
   */
  stemFormat: z.enum(["input", "model"]).default("input"),
});
/** Separation settings with every default filled in. */
export type SeparateSettings = z.output<typeof SeparateOptionsSchema>;
/** Options of {@link StemscopeModel.separate}. */
export type SeparateOptions = z.input<typeof SeparateOptionsSchema> & Pick<InferenceOptions, "onProgress">;

/** One window's prediction. */
export interface WindowPrediction {
  /** Seconds from the start of the audio. */
  start: number;
  end: number;
  /** RMS level, dBFS (−Infinity for digital silence; serialised as null in JSON). */
  rmsDb: number;
  /** RMS level without DC and infrasound (below 20 Hz), dBFS (level.ts; null in JSON when −Infinity). */
  audibleDb: number;
  /** `audibleDb` below the silence threshold: shown, but not part of the file-level summary. */
  silent: boolean;
  /** Spectral flatness, 0 (tonal) … 1 (flat), level.ts (0 for a silent window). */
  flatness: number;
  /** Audible, but flatness above `noiseFlatness`: shown, but not part of the file-level summary. */
  noise: boolean;
  /**
   * Every class with its play probability 1 − Π_k (1 − p_k(class)), highest first (empty when no
   * window was audible: the model did not run).
   */
  instruments: InstrumentProbability[];
  /** Each separated source's most likely class and its softmax probability, in source order (or empty). */
  sources: InstrumentProbability[];
}

/** Why a file holds no instrument. */
export interface NoInstrument {
  /**
   * `silence`: every window's RMS is below `silenceDb`; `dc`: louder, but only as DC or infrasound
   * (below 20 Hz); `noise`: every audible window is noise-like (`noiseFlatness`); `not-music`: the
   * model folder's calibrated rule (`naming.none`: e.g. speech).
   */
  reason: "silence" | "dc" | "noise" | "not-music";
  /** One line for people, with the measured level or statistic and its threshold. */
  detail: string;
}

/** The name of the one stem of a file with no instrument (the input itself). */
export const NO_INSTRUMENT_STEM = "no-instrument";

/** What {@link StemscopeModel.predict} returns. */
export interface Prediction {
  /**
   * Every class with its file-level probability (the mean, or with `summary: "max"` the maximum,
   * over non-silent windows of the window's play probability), highest first; empty when no window
   * was audible.
   */
  instruments: InstrumentProbability[];
  /** Set when the file holds no instrument (then nothing is named); null when it is named. */
  noInstrument: NoInstrument | null;
  /**
   * The statistics a "no instrument" rule can look at (src/separator/naming.ts `noneStatistic`), over
   * the audible windows: `play`, the highest file-level play probability; `entropy`, the sources'
   * mean normalised class entropy. Null when the model did not run.
   */
  namingStatistics: { play: number; entropy: number } | null;
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
  /** One array per channel of {@link Separation.mixture}, at {@link Separation.sampleRate}, as long. */
  channels: Float32Array[];
}

/** What {@link StemscopeModel.separate} returns. */
export interface Separation {
  /** K stems (K = the model's sources), ordered by file-level probability, highest first. */
  stems: Stem[];
  /**
   * What the stems sum to, per channel: the input's channels (`stemFormat` input), or the mono
   * mixture at the model's rate (`stemFormat` model, and for mono input at the model's rate).
   */
  mixture: Float32Array[];
  /** The stems' rate, Hz. */
  sampleRate: number;
  prediction: Prediction;
}

/** A window's RMS levels, dBFS: as is, and without DC and infrasound ({@link audibleDb}); its flatness. */
interface WindowLevel {
  rmsDb: number;
  audibleDb: number;
  flatness: number;
}

/** Model outputs of every window (none at all when no window was audible). */
interface WindowOutputs {
  windows: WindowPlan[];
  levels: WindowLevel[];
  /** Per window: [K, classes] softmax probabilities. */
  probabilities: Float64Array[];
}

/** Where the model's separated planes of every window go: kept in memory, or in a {@link PlaneStore}. */
interface WindowPlanes {
  put(w: number, planes: Float32Array[]): void;
  /** Window w's K planes [nMels, size]. */
  get(w: number): Float32Array[];
  dispose(): void;
}

/** The planes in memory (views of the batches' outputs). */
class PlaneList implements WindowPlanes {
  private readonly planes: Float32Array[][] = [];
  put(w: number, planes: Float32Array[]): void {
    this.planes[w] = planes;
  }
  get(w: number): Float32Array[] {
    return this.planes[w]!;
  }
  dispose(): void {
    this.planes.length = 0;
  }
}

/** What a separation's stems are: their names, format and length, and the prediction they come from. */
export interface StemLayout {
  /** Instrument names, in stem order. */
  names: string[];
  /** Hz. */
  sampleRate: number;
  channels: number;
  /** Frames each stem will have. */
  frames: number;
  prediction: Prediction;
}

/** Where a streamed separation's stems go (e.g. WAV files being written: src/infer/stems.ts). */
export interface StemSink {
  /** Called once, before any samples. */
  start(layout: StemLayout): Promise<void>;
  /** The next samples of every stem, in stem order: one array per channel (equal lengths). */
  write(stems: readonly (readonly Float32Array[])[]): Promise<void>;
}

/** The input of a separation: its channels at its rate, and its mono mixture at the model's rate. */
interface InputAudio {
  /** One array per channel, equal lengths. */
  channels: readonly Float32Array[];
  /** Hz of the channels. */
  sampleRate: number;
  /** The channels mixed to mono and resampled to the model's rate. */
  mono: Float32Array;
}

/** A {@link StemSink} that keeps the stems in memory (for the whole-array API). */
class StemCollector implements StemSink {
  private names: string[] = [];
  private arrays: Float32Array[][] = [];
  private filled = 0;

  async start(layout: StemLayout): Promise<void> {
    this.names = layout.names;
    this.arrays = layout.names.map(() =>
      Array.from({ length: layout.channels }, () => new Float32Array(layout.frames)),
    );
  }

  async write(stems: readonly (readonly Float32Array[])[]): Promise<void> {
    stems.forEach((channels, s) => channels.forEach((c, ch) => this.arrays[s]![ch]!.set(c, this.filled)));
    this.filled += stems[0]?.[0]?.length ?? 0;
  }

  /** The stems, each as long as the input. */
  stems(): Stem[] {
    return this.names.map((name, i) => ({ name, channels: this.arrays[i]! }));
  }
}

/** STFT frames of the input-rate separation between yields to the event loop (~0.1 s of work). */
const FRAMES_PER_STEP = 256;

/** Yields to the event loop (progress output, signals, Node-API finalizers). */
const yieldToLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether a window counts: audible (`silenceDb`) and not noise-like (`noiseFlatness`). */
function counted(level: WindowLevel, settings: InferenceSettings): boolean {
  return level.audibleDb >= settings.silenceDb && !(level.flatness > settings.noiseFlatness);
}

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
   * Silent audio (every window below `silenceDb` once DC and infrasound are removed) is not an
   * error: its prediction says `noInstrument` and the model is not run.
   * @throws InferenceError for empty audio; ParameterError for an invalid option
   */
  async predict(
    samples: Float32Array,
    sampleRate: number,
    options: InferenceOptions = {},
  ): Promise<Prediction> {
    const { settings, onProgress } = this.settings(options);
    const audio = this.prepare(samples, sampleRate, settings);
    const outputs = await this.run(new MemoryStore(audio), settings, null, onProgress);
    return this.describe(audio.length, outputs, settings);
  }

  /**
   * Separates the audio into K stems, named by the K instruments with the highest file-level
   * probability. The model hears the mono mixture at its rate; each window's sources are assigned
   * to those names by the assignment that maximises the summed probabilities, their masks are
   * applied to each channel's STFT at the input's rate (or, with `stemFormat: "model"`, to the mono
   * mixture's at the model's rate), and windows are cross-faded by overlap-add; the stems sum to
   * {@link Separation.mixture} up to iSTFT round-off. Mono input at the model's rate gives the same
   * stems either way.
   * @param audio mono samples, or one array per channel (equal lengths ≥ 1)
   * @param sampleRate its rate in Hz
   * Audio with no instrument (see {@link Prediction.noInstrument}) gives one stem,
   * {@link NO_INSTRUMENT_STEM}, that is the input itself (silent for silence), without masks.
   * @throws InferenceError for empty or ragged audio, or a hop that leaves gaps between windows
   */
  async separate(
    audio: Float32Array | readonly Float32Array[],
    sampleRate: number,
    options: SeparateOptions = {},
  ): Promise<Separation> {
    const { onProgress, ...rest } = options;
    const settings = parseSettings(SeparateOptionsSchema, rest, "separation options");
    const channels = audio instanceof Float32Array ? [audio] : audio;
    const first = channels[0];
    if (first === undefined) throw new InferenceError(`${settings.name}: no channels`);
    channels.forEach((c, i) => {
      if (c.length !== first.length)
        throw new InferenceError(
          `${settings.name}: channel ${i} has ${c.length} samples, channel 0 has ${first.length}; channels must be equally long`,
        );
    });
    const mono = this.prepare(
      channels.length === 1 ? first : downmixToMono([...channels]),
      sampleRate,
      settings,
    );
    return this.separateAudio({ channels, sampleRate, mono }, settings, onProgress);
  }

  /**
   * {@link predict} on an audio file (any format loadAudio reads; mixed to mono, resampled).
   * @throws AudioError for unreadable files (naming the file)
   */
  async predictFile(path: string, options: InferenceOptions = {}): Promise<Prediction> {
    const { settings, onProgress } = this.settings({ name: path, ...options });
    const stream = await openAudioStream(path);
    try {
      const mono = await this.monoStore(stream, settings);
      try {
        const outputs = await this.run(mono, settings, null, onProgress);
        return this.describe(mono.length, outputs, settings);
      } finally {
        mono.dispose();
      }
    } finally {
      await stream.close();
    }
  }

  /**
   * {@link separateFile} in bounded memory: the file is read in blocks (WAV from disk, large MP3 /
   * FLAC / Ogg files decoded in chunks, other formats decoded whole: see openAudioStream), its mono mixture at the model's rate and the model's planes
   * wait in temporary files when it is longer than `spillSeconds`, and the stems go to `sink` block
   * by block as soon as no later window touches them. The stems are separateFile's (to float
   * rounding).
   * @returns the prediction (also given to `sink.start`)
   */
  async separateFileTo(path: string, sink: StemSink, options: SeparateOptions = {}): Promise<Prediction> {
    const { onProgress, ...rest } = options;
    const settings = parseSettings(SeparateOptionsSchema, { name: path, ...rest }, "separation options");
    this.checkHop(settings);
    const stream = await openAudioStream(path);
    try {
      return await this.separateStream(stream, sink, settings, onProgress);
    } finally {
      await stream.close();
    }
  }

  /**
   * The stream mixed to mono at the model's rate: in memory, or (longer than `spillSeconds`) in a
   * temporary file.
   */
  private async monoStore(stream: AudioStream, settings: InferenceSettings): Promise<FloatStore> {
    const rate = this.features.sampleRate;
    const { length, blocks } = monoAtRate(stream, rate, settings.blockFrames);
    const store =
      length > settings.spillSeconds * rate
        ? new FileStore("mono")
        : new MemoryStore(new Float32Array(length), 0);
    try {
      for await (const block of blocks) store.append(block);
    } catch (error) {
      store.dispose();
      throw error;
    }
    return store;
  }

  /**
   * {@link separateFileTo} of an opened stream (whose mono mixture at the model's rate may be given).
   * Progress counts each window twice: once through the model, once through the masks and iSTFT.
   */
  private async separateStream(
    stream: AudioStream,
    sink: StemSink,
    settings: SeparateSettings,
    onProgress: InferenceOptions["onProgress"],
    given?: FloatStore,
  ): Promise<Prediction> {
    const rate = this.features.sampleRate;
    const mono = given ?? (await this.monoStore(stream, settings));
    const planes: WindowPlanes =
      mono instanceof FileStore ? new PlaneStore(new FileStore("planes"), this.sources) : new PlaneList();
    try {
      const outputs = await this.run(
        mono,
        settings,
        planes,
        onProgress && ((done, total) => onProgress(done, 2 * total)),
      );
      // the forward's buffers, cached by the engine's allocator, are not needed while the stems are
      // made: back to the OS, so the stems' arrays do not come on top of them
      releaseFreeMemory();
      const prediction = this.describe(mono.length, outputs, settings);
      const atModelRate = this.stemsKeepModelRate(settings.stemFormat, stream.channels, stream.sampleRate);
      const layout = {
        sampleRate: atModelRate ? rate : stream.sampleRate,
        channels: atModelRate ? 1 : stream.channels,
        frames: atModelRate ? mono.length : stream.frames,
        prediction,
      };
      const block = settings.blockFrames;
      if (prediction.noInstrument !== null) {
        // nothing to separate: the one stem is the input
        await sink.start({ names: [NO_INSTRUMENT_STEM], ...layout });
        if (atModelRate) {
          for (let i = 0; i < mono.length; i += block)
            await sink.write([[mono.read(i, Math.min(block, mono.length - i))]]);
        } else for await (const channels of stream.blocks(block)) await sink.write([channels]);
        onProgress?.(1, 1);
        return prediction;
      }
      const names = this.stemNames(prediction);
      await sink.start({ names, ...layout });
      const assignments = this.assignments(outputs, names);
      const n = outputs.windows.length;
      const progress = onProgress && ((w: number) => onProgress(n + w + 1, 2 * n));
      const clip = (w: number): Float32Array =>
        mono.read(outputs.windows[w]!.start, this.featurizer.clipLength);
      if (atModelRate) {
        const adders = names.map(() => new StreamingOverlapAdd(mono.length, this.featurizer.clipLength));
        for (let w = 0; w < n; w++) {
          const window = outputs.windows[w]!;
          const signals = this.featurizer.stems(clip(w), planes.get(w));
          signals.forEach((signal, s) => adders[assignments[w]![s]!]!.add(window.start, signal));
          const final = w + 1 < n ? outputs.windows[w + 1]!.start : mono.length;
          await sink.write(adders.map((adder) => [adder.take(final)]));
          progress?.(w);
          if (w % 4 === 3) await yieldToLoop();
        }
        return prediction;
      }
      const separation = new FullRateSeparation(
        { channels: stream.channels, length: stream.frames },
        stream.sampleRate,
        this.features,
        outputs.windows.map((w) => w.start),
        (w) => this.stemMasks(clip(w), planes.get(w), assignments[w]!),
        this.sources,
      );
      // every frame the input received so far allows, its finished stems written as they come
      let done = 0;
      const drain = async (): Promise<void> => {
        for (;;) {
          const next = separation.advance(FRAMES_PER_STEP);
          const finished = separation.take();
          if (finished[0]![0]!.length > 0) await sink.write(finished);
          if (next === done) return;
          done = next;
          progress?.(Math.ceil((done / separation.frames) * n) - 1);
          await yieldToLoop();
        }
      };
      for await (const channels of stream.blocks(block)) {
        separation.push(channels);
        await drain();
      }
      await drain();
      return prediction;
    } finally {
      planes.dispose();
      mono.dispose();
    }
  }

  /**
   * {@link separate} on an audio file (any format loadAudio reads): the model hears it mixed to mono
   * and resampled; the stems have the file's rate and channels (or the model's, see `stemFormat`).
   */
  async separateFile(path: string, options: SeparateOptions = {}): Promise<Separation> {
    const { onProgress, ...rest } = options;
    const settings = parseSettings(SeparateOptionsSchema, { name: path, ...rest }, "separation options");
    return this.separateAudio(await this.readForSeparation(path, settings.stemFormat), settings, onProgress);
  }

  /**
   * The file's channels at its rate (not kept when the stems are at the model's rate) and its mono
   * mixture at the model's rate; the decoded file is dropped on return.
   */
  private async readForSeparation(
    path: string,
    stemFormat: SeparateSettings["stemFormat"],
  ): Promise<InputAudio> {
    const decoded = await decodeAudioFile(path);
    const loaded = prepareDecoded(decoded, path, this.features.sampleRate);
    return this.stemsKeepModelRate(stemFormat, decoded.channels.length, decoded.sampleRate)
      ? { channels: [loaded.samples], sampleRate: loaded.sampleRate, mono: loaded.samples }
      : { channels: decoded.channels, sampleRate: decoded.sampleRate, mono: loaded.samples };
  }

  /** {@link separate} of the input's channels, whose mono mixture at the model's rate is given. */
  private async separateAudio(
    input: InputAudio,
    settings: SeparateSettings,
    onProgress: InferenceOptions["onProgress"],
  ): Promise<Separation> {
    this.checkHop(settings);
    const stems = new StemCollector();
    const stream = memoryAudioStream(input.channels, input.sampleRate);
    const mono = new MemoryStore(input.mono);
    const prediction = await this.separateStream(stream, stems, settings, onProgress, mono);
    const atModelRate = this.stemsKeepModelRate(settings.stemFormat, input.channels.length, input.sampleRate);
    const mixture = atModelRate ? [input.mono] : [...input.channels];
    const sampleRate = atModelRate ? this.features.sampleRate : input.sampleRate;
    if (prediction.noInstrument !== null) {
      // the one stem is the input (its arrays, not copies), which it sums to
      return { stems: [{ name: NO_INSTRUMENT_STEM, channels: mixture }], mixture, sampleRate, prediction };
    }
    return { stems: stems.stems(), mixture, sampleRate, prediction };
  }

  /** Separation needs windows without gaps between them. */
  private checkHop(settings: SeparateSettings): void {
    if (settings.hopSeconds > this.windowSeconds) {
      throw new InferenceError(
        `${settings.name}: a \`hopSeconds\` of ${settings.hopSeconds} s leaves gaps between the ${this.windowSeconds} s windows; separation needs ≤ ${this.windowSeconds} s`,
      );
    }
  }

  /** The stems' names: the K instruments of highest file-level probability. */
  private stemNames(prediction: Prediction): string[] {
    return prediction.instruments.slice(0, this.sources).map((i) => i.name);
  }

  /**
   * Per window, the stem each source goes to (source s of window w to stem assignments[w][s]): the
   * assignment of most summed probability.
   */
  private assignments(outputs: WindowOutputs, names: readonly string[]): number[][] {
    const stemClass = names.map((n) => this.classes.indexOf(n));
    const c = this.classes.length;
    return outputs.probabilities.map((probs) =>
      bestAssignment(
        Array.from({ length: this.sources }, (_, s) => stemClass.map((cls) => -probs[s * c + cls]!)),
      ),
    );
  }

  /** A window's masks in stem order (source s's mask goes to stem assignment[s]). */
  private stemMasks(
    clip: Float32Array,
    planes: Float32Array[],
    assignment: readonly number[],
  ): Float32Array[] {
    const masks = this.featurizer.masks(clip, planes);
    const byStem = [...masks];
    masks.forEach((mask, s) => (byStem[assignment[s]!] = mask));
    return byStem;
  }

  /**
   * Whether the stems are mono at the model's rate: asked for, or what the input is anyway (then
   * the input's rate and channels are the model's, and the stems are exactly the model-rate ones).
   */
  private stemsKeepModelRate(
    stemFormat: SeparateSettings["stemFormat"],
    channels: number,
    sampleRate: number,
  ): boolean {
    return stemFormat === "model" || (channels === 1 && sampleRate === this.features.sampleRate);
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

  /**
   * Every window's levels, then every window through the batched forward: probabilities (and
   * separated planes) — unless no window is audible (the signal-level gate): then no forward at all.
   */
  private async run(
    audio: FloatStore,
    settings: InferenceSettings,
    planes: WindowPlanes | null,
    onProgress: InferenceOptions["onProgress"],
  ): Promise<WindowOutputs> {
    const rate = this.features.sampleRate;
    const hop = Math.max(1, Math.round(settings.hopSeconds * rate));
    const windows = planWindows(audio.length, this.featurizer.clipLength, hop);
    const levels = windows.map((w) => {
      // the window's own samples (not the zero padding past the end of a short input)
      const samples = audio.read(w.start, Math.min(w.length, audio.length - w.start));
      const audible = audibleDb(samples, rate);
      return {
        rmsDb: rmsDb(samples),
        audibleDb: audible,
        flatness:
          audible >= settings.silenceDb
            ? spectralFlatness(samples, rate, 0, samples.length, settings.silenceDb)
            : 0,
      };
    });
    const probabilities: Float64Array[] = [];
    if (levels.every((l) => !counted(l, settings))) {
      return { windows, levels, probabilities };
    }
    for (let b0 = 0; b0 < windows.length; b0 += settings.batchSize) {
      const batch = windows.slice(b0, b0 + settings.batchSize);
      // The last, smaller batch needs buffers of other sizes than the cached ones of the full
      // batches: without this the engine's allocator would hold both (16 windows + 7: 260 + 108 MB).
      if (b0 > 0 && batch.length < settings.batchSize) releaseFreeMemory();
      const out = await this.analyse(
        batch.map((w) => audio.read(w.start, w.length)),
        { planes: planes !== null, bf16: settings.bf16 },
      );
      for (let i = 0; i < batch.length; i++) {
        // a copy: the batch's arrays are not held for its one window (not even by a view)
        probabilities.push(out.probabilitiesOf(i).slice());
        planes?.put(b0 + i, out.planesOf(i));
      }
      onProgress?.(Math.min(windows.length, b0 + batch.length), windows.length);
      await yieldToLoop();
    }
    return { windows, levels, probabilities };
  }

  private describe(length: number, outputs: WindowOutputs, settings: InferenceSettings): Prediction {
    const rate = this.features.sampleRate;
    const c = this.classes.length;
    const warnings: string[] = [];
    const windowSeconds = this.windowSeconds;
    if (length < this.featurizer.clipLength) {
      warnings.push(
        `${settings.name}: ${(length / rate).toFixed(2)} s is shorter than one ${windowSeconds} s window; zero-padded to ${windowSeconds} s`,
      );
    }
    const ran = outputs.probabilities.length > 0;
    const plays: Float64Array[] = [];
    const excluded: boolean[] = [];
    const windows: WindowPrediction[] = outputs.windows.map((w, i) => {
      const level = outputs.levels[i]!;
      const silent = !(level.audibleDb >= settings.silenceDb);
      excluded.push(!counted(level, settings));
      const window = {
        start: w.start / rate,
        end: Math.min(length, w.start + w.length) / rate,
        ...level,
        silent,
        noise: !silent && level.flatness > settings.noiseFlatness,
      };
      if (!ran) return { ...window, instruments: [], sources: [] };
      const probs = outputs.probabilities[i]!;
      const p = playProbabilities(probs, c);
      plays.push(p);
      return {
        ...window,
        instruments: rankInstruments(p, this.classes),
        sources: sourceClasses(probs, c).map((best, s) => ({
          name: this.classes[best]!,
          probability: probs[s * c + best]!,
        })),
      };
    });
    const prediction = {
      windows,
      durationSeconds: length / rate,
      sampleRate: rate,
      windowSeconds,
      hopSeconds: settings.hopSeconds,
      warnings,
    };
    if (!ran) {
      const noInstrument = this.gated(outputs.levels, settings);
      return { ...prediction, instruments: [], noInstrument, namingStatistics: null };
    }
    const summary = summarise(plays, excluded, c, settings.summary);
    const heard = outputs.probabilities.filter((_, i) => !excluded[i]);
    const namingStatistics = {
      play: noneStatistic("play", summary, heard, c),
      entropy: noneStatistic("entropy", summary, heard, c),
    };
    return {
      ...prediction,
      instruments: rankInstruments(summary, this.classes),
      noInstrument: this.notMusic(namingStatistics),
      namingStatistics,
    };
  }

  /** Why audio with no counted window holds no instrument: silence, only DC / infrasound, or noise. */
  private gated(levels: readonly WindowLevel[], settings: InferenceSettings): NoInstrument {
    const loudest = Math.max(...levels.map((l) => l.rmsDb));
    const said = (db: number): string => (Number.isFinite(db) ? `${db.toFixed(1)} dBFS` : "digital silence");
    const noisy = levels.filter((l) => l.audibleDb >= settings.silenceDb);
    if (noisy.length > 0) {
      const lowest = Math.min(...noisy.map((l) => l.flatness));
      return {
        reason: "noise",
        detail: `noise-like: every audible window's spectral flatness is above ${settings.noiseFlatness} (lowest ${lowest.toFixed(3)}; music measures below 0.05)`,
      };
    }
    if (!(loudest >= settings.silenceDb)) {
      return {
        reason: "silence",
        detail: `silent: every window is below ${settings.silenceDb} dBFS RMS (loudest ${said(loudest)})`,
      };
    }
    const audible = Math.max(...levels.map((l) => l.audibleDb));
    return {
      reason: "dc",
      detail: `only DC or infrasound (below ${INFRASONIC_HZ} Hz): up to ${said(loudest)} RMS, but every window is below ${settings.silenceDb} dBFS without it (loudest ${said(audible)})`,
    };
  }

  /** The model folder's "no instrument" rule on the file's outputs (null: named, or no rule). */
  private notMusic(statistics: Record<NoneRule["statistic"], number>): NoInstrument | null {
    const rule = this.config.naming?.none;
    if (rule === undefined) return null;
    const value = statistics[rule.statistic];
    if (!rejectsAsNone(rule, value)) return null;
    return {
      reason: "not-music",
      detail:
        rule.statistic === "play"
          ? `none of the classes: the highest play probability ${value.toFixed(3)} is below this model's calibrated ${rule.threshold.toFixed(3)}`
          : `none of the classes: the sources' class entropy ${value.toFixed(3)} is above this model's calibrated ${rule.threshold.toFixed(3)}`,
    };
  }
}

/**
 * Loads a model folder (config.json + weights.safetensors, see src/model/folder.ts) for inference.
 * @param dir the folder, or a packaged model's name (`general`); default: the packaged
 *   `models/default`
 * @param options.backend which backend runs the model (default "libtorch")
 * @throws ModelFolderError / SafetensorsError naming the file (missing folder, unsupported
 *   formatVersion, weights that do not fit), InferenceError when the default model is not installed,
 *   ParameterError for an unknown backend
 */
export async function loadModel(dir?: string, options: LoadOptions = {}): Promise<StemscopeModel> {
  const model = new StemscopeModel(...(await openModelFolder(dir, options)));
  releaseFreeMemory(); // the weights as read, before batch norms were folded (~10 MB for the default model)
  return model;
}
