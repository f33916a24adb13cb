/**
 * The page's analysis, in the browser: the same TypeScript as the CLI for features, windows, naming
 * rules, masks and overlap-add (src/), and onnxruntime-web (WASM) for the model's forward pass on an
 * exported ONNX file (src/export). No DOM here; main.ts draws the results.
 */
import * as ort from "onnxruntime-web/wasm";
import { ONNX_NAMES, type OnnxModelInfo, readOnnxModelInfo } from "../../src/export/metadata.js";
import { getExtractor } from "../../src/features/pipeline.js";
import { OverlapAdd } from "../../src/infer/overlap-add.js";
import { planWindows, rmsDb, summarise, windowSamples } from "../../src/infer/windows.js";
import {
  type InstrumentProbability,
  playProbabilities,
  rankInstruments,
  softmaxRows,
} from "../../src/separator/naming.js";
import { bestAssignment } from "../../src/separator/assignment.js";
import { separateClip } from "../../src/separator/masks.js";

/** Settings of the analysis; the CLI's defaults (`stemscope predict` / `separate`). */
export const ANALYSIS = {
  /** Seconds between window starts. */
  hopSeconds: 1,
  /** Windows quieter than this RMS level (dBFS) are silent and left out of the summary. */
  silenceDb: -60,
  /** Windows per forward pass. */
  batchSize: 4,
} as const;

/** An exported model, ready to run. */
export interface PageModel {
  session: ort.InferenceSession;
  info: OnnxModelInfo;
  /** Where it came from (file name or URL), for messages. */
  name: string;
  /** Size of the ONNX file, bytes. */
  bytes: number;
}

/** Threads onnxruntime-web may use: several only when the page is cross-origin isolated. */
export function wasmThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
}

/**
 * Loads an exported model (`stemscope export`) into onnxruntime-web.
 * @param bytes the ONNX file
 * @param name its name for messages
 * @throws OnnxModelError (from readOnnxModelInfo) for a file that is not a stemscope export
 */
export async function loadPageModel(bytes: Uint8Array, name: string): Promise<PageModel> {
  const info = readOnnxModelInfo(bytes, name);
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  ort.env.wasm.numThreads = wasmThreads();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  return { session, info, name, bytes: bytes.length };
}

/** One window's result. */
export interface PageWindow {
  /** Seconds from the start. */
  start: number;
  end: number;
  silent: boolean;
  /** Play probability of every class (model order). */
  play: Float64Array;
}

/** What the page shows. */
export interface PageResult {
  /** Every class with its file-level probability (mean over non-silent windows), highest first. */
  instruments: InstrumentProbability[];
  windows: PageWindow[];
  /** K stems, named by the K most probable instruments, at {@link sampleRate}. */
  stems: { name: string; samples: Float32Array }[];
  sampleRate: number;
  durationSeconds: number;
  /** Milliseconds spent in each stage. */
  timings: { features: number; forward: number; separation: number };
}

/** Thrown for audio the model cannot analyse (e.g. silence); the message is for the user. */
export class AnalysisError extends Error {}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Names the instruments of `audio` and separates it into stems, as `stemscope separate` does:
 * windows of the model's clip length every second, features → model → per-window play
 * probabilities → the file-level mean over non-silent windows; the K most probable instruments name
 * the stems, each window's sources go to them by the assignment of highest summed probability, and
 * the masked windows are cross-faded by overlap-add.
 * @param audio mono samples at the model's sample rate (info.features.sampleRate)
 * @param onProgress called with the fraction done, 0 … 1
 */
export async function analyse(
  model: PageModel,
  audio: Float32Array,
  onProgress: (fraction: number, stage: string) => void,
): Promise<PageResult> {
  const { classes, features, sources: k } = model.info;
  const c = classes.length;
  const extractor = getExtractor(features);
  const rate = features.sampleRate;
  const plan = planWindows(audio.length, extractor.length, Math.round(ANALYSIS.hopSeconds * rate));
  const cell = features.nMels * features.size;
  const probabilities: Float64Array[] = [];
  const separated: Float32Array[][] = [];
  const timings = { features: 0, forward: 0, separation: 0 };
  for (let b0 = 0; b0 < plan.length; b0 += ANALYSIS.batchSize) {
    const batch = plan.slice(b0, b0 + ANALYSIS.batchSize);
    let t = performance.now();
    const input = new Float32Array(batch.length * cell);
    batch.forEach((w, i) => extractor.compute(windowSamples(audio, w), input, i * cell));
    timings.features += performance.now() - t;
    t = performance.now();
    const out = await model.session.run({
      [ONNX_NAMES.input]: new ort.Tensor("float32", input, [batch.length, 1, features.nMels, features.size]),
    });
    const logits = out[ONNX_NAMES.logits]!.data as Float32Array;
    const planes = out[ONNX_NAMES.separated]!.data as Float32Array;
    timings.forward += performance.now() - t;
    for (let i = 0; i < batch.length; i++) {
      probabilities.push(softmaxRows(logits.subarray(i * k * c, (i + 1) * k * c), c));
      separated.push(
        Array.from({ length: k }, (_, s) => planes.slice((i * k + s) * cell, (i * k + s + 1) * cell)),
      );
    }
    onProgress((b0 + batch.length) / (2 * plan.length), "Naming the instruments");
    await nextTask();
  }
  const windows = plan.map((w, i): PageWindow => {
    const level = rmsDb(audio, w.start, w.start + w.length);
    return {
      start: w.start / rate,
      end: Math.min(audio.length, w.start + w.length) / rate,
      silent: !(level >= ANALYSIS.silenceDb),
      play: playProbabilities(probabilities[i]!, c),
    };
  });
  if (windows.every((w) => w.silent)) {
    throw new AnalysisError(`the audio is silent (every window is below ${ANALYSIS.silenceDb} dBFS)`);
  }
  const summary = summarise(
    windows.map((w) => w.play),
    windows.map((w) => w.silent),
    c,
    "mean",
  );
  const instruments = rankInstruments(summary, classes);
  const names = instruments.slice(0, k).map((i) => i.name);
  const stemClass = names.map((n) => classes.indexOf(n));
  const adders = names.map(() => new OverlapAdd(audio.length, extractor.length));
  const t = performance.now();
  for (let w = 0; w < plan.length; w++) {
    const probs = probabilities[w]!;
    // Source s goes to stem π[s], the assignment with the highest summed probability of the stems' classes.
    const perm = bestAssignment(
      Array.from({ length: k }, (_, s) => stemClass.map((cls) => -probs[s * c + cls]!)),
    );
    const signals = separateClip(windowSamples(audio, plan[w]!), separated[w]!, features);
    for (let s = 0; s < k; s++) adders[perm[s]!]!.add(plan[w]!.start, signals[s]!);
    if (w % 2 === 1 || w === plan.length - 1) {
      onProgress(0.5 + (w + 1) / (2 * plan.length), "Separating the stems");
      await nextTask();
    }
  }
  timings.separation = performance.now() - t;
  return {
    instruments,
    windows,
    stems: names.map((name, i) => ({ name, samples: adders[i]!.result() })),
    sampleRate: rate,
    durationSeconds: audio.length / rate,
    timings,
  };
}
