// Benchmark of `evaluate()`: mixtures per second with the shipped model (models/default) on a
// generated labels.txt dataset, the current path against the previous one (kept below, only here:
// per-sample TypeScript features, batches of 16 through the unfolded model's forward in fp32, stems
// by a whole STFT → masks → iSTFT per source in TypeScript, SDR / SI-SDR by separate passes), in the
// same run, with and without the audio metrics (SDR / SI-SDR need the stems). The current path:
// features of a batch by the native kernel, batches of 32 through the runner's model with its batch
// norms folded, every stem of a batch by the native stems kernel, one-pass audio scores. Rounds
// alternate old and new; the medians are reported, with CPU time per mixture (process.cpuUsage),
// since wall time on a shared machine says little. Both paths must give the same metrics (checked).
// Prints one JSON object.
// Usage: node --import tsx bench/eval.ts [--samples 6] [--rounds 3] [--threads 2] [--model DIR] [--bf16]
//   [--backend libtorch|onnx] (the backend of the new path, by default `stemscope eval`'s: onnx, or
//   libtorch with --bf16; the old one always ran libtorch)
//   (--samples: mixtures per class pair; 45 pairs of the model's 10 classes → 270 mixtures)
import { readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fixLength, loadAudio } from "../src/audio/index.js";
import { buildMixtures } from "../src/data/mix/mix.js";
import { readTrainData, type SampleRef } from "../src/data/dataset/dataset.js";
import { F, noGrad, setNumThreads, tensor, tidy } from "../src/engine/index.js";
import { evaluate, type EvalMetrics } from "../src/eval/index.js";
import {
  classificationScores,
  confusionMatrix,
  finiteMean,
  meanSquaredError,
  SDR_CAP_DB,
} from "../src/eval/metrics.js";
import { type FeatureConfig } from "../src/features/config.js";
import {
  computeFeatures,
  getExtractor,
  nativeFeatures,
  nativeToMelPower,
  AMIN,
} from "../src/features/pipeline.js";
import { istft, stft, type ComplexSpectrogram } from "../src/features/stft.js";
import { bestAssignment } from "../src/separator/assignment.js";
import { linearMasks } from "../src/separator/masks.js";
import { matchedLabels, namedClasses, sameLabels, sourceClasses } from "../src/separator/naming.js";
import { type JointModel, loadModelFolder } from "../src/model/index.js";
import { loadSeparator, type Separator } from "../src/separator/separator.js";
import { makeRawData, tempDir } from "../test/data-helpers.js";

const { values } = parseArgs({
  options: {
    samples: { type: "string", default: "6" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    model: { type: "string" },
    bf16: { type: "boolean", default: false },
    backend: { type: "string" },
  },
});
const threads = Number(values.threads);
const rounds = Number(values.rounds);
setNumThreads(threads);

/** CPU model and the SIMD flags that matter here. */
function cpuDescription(): { model: string; flags: string[] } {
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "unknown";
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? "").split(/\s+/));
  return { model, flags: ["avx2", "avx512f", "avx512_bf16", "amx_tile"].filter((f) => flags.has(f)) };
}

// ---------------------------------------------------------------- the previous path (commit 12a29e6)

/** The previous features of one sample: TypeScript, one spectrogram at a time. */
function oldSampleFeatures(
  mixture: Float32Array,
  sources: Float32Array[],
  config: FeatureConfig,
): Float32Array[] {
  if (config.mode === "native") {
    const f = nativeFeatures(mixture, sources, config);
    return [f.mixture, ...f.sources];
  }
  return [mixture, ...sources].map((x) => computeFeatures(x, config));
}

/** The previous mel shares (native mode: mel power by pow). */
function oldShares(separated: Float32Array[], config: FeatureConfig): Float64Array[] {
  const { topDb } = config;
  const powers = separated.map((v) => nativeToMelPower(v, { refPower: 1, topDb, amin: AMIN }));
  const cells = powers[0]!.length;
  const shares = powers.map(() => new Float64Array(cells));
  for (let i = 0; i < cells; i++) {
    let sum = 0;
    for (const p of powers) sum += Math.max(0, p[i]!);
    for (let s = 0; s < powers.length; s++)
      shares[s]![i] = sum > 0 ? Math.max(0, powers[s]![i]!) / sum : 1 / powers.length;
  }
  return shares;
}

/** The previous stems: the clip's STFT, masks for every source, one iSTFT per source. */
function oldSeparateClip(
  clip: Float32Array,
  separated: Float32Array[],
  config: FeatureConfig,
): Float32Array[] {
  const extractor = getExtractor(config);
  const { nFft } = extractor.config;
  const hop = extractor.hop;
  const spec = stft(clip, { nFft, hopLength: hop, center: true, padMode: "constant" });
  return linearMasks(oldShares(separated, config), config).map((mask) => {
    const masked: ComplexSpectrogram = {
      re: new Float32Array(spec.re.length),
      im: new Float32Array(spec.im.length),
      nBins: spec.nBins,
      nFrames: spec.nFrames,
    };
    for (let i = 0; i < mask.length; i++) {
      masked.re[i] = spec.re[i]! * mask[i]!;
      masked.im[i] = spec.im[i]! * mask[i]!;
    }
    return istft(masked, { nFft, hopLength: hop, center: true, length: clip.length });
  });
}

/** The previous SI-SDR: one pass for ‖s‖², one for ⟨s, ŝ⟩, one for the target and noise energies. */
function oldSiSdr(estimate: Float32Array, reference: Float32Array): number {
  let refEnergy = 0;
  for (let i = 0; i < reference.length; i++) refEnergy += reference[i]! * reference[i]!;
  if (!(refEnergy > 0)) return Number.NaN;
  let dot = 0;
  for (let i = 0; i < reference.length; i++) dot += reference[i]! * estimate[i]!;
  const alpha = dot / refEnergy;
  let target = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const t = alpha * reference[i]!;
    target += t * t;
    noise += (t - estimate[i]!) ** 2;
  }
  if (!(target > 0)) return -SDR_CAP_DB;
  if (noise <= target * Math.pow(10, -SDR_CAP_DB / 10)) return SDR_CAP_DB;
  return Math.max(-SDR_CAP_DB, Math.min(SDR_CAP_DB, 10 * Math.log10(target / noise)));
}

/** The previous per-source audio scores: SDR (a pass for the noise, one for the energy), two SI-SDRs. */
function oldAudioScores(
  stem: Float32Array,
  reference: Float32Array,
  mixture: Float32Array,
): { sdr: number; siSdr: number; mixtureSiSdr: number } {
  let noise = 0;
  for (let i = 0; i < reference.length; i++) noise += (reference[i]! - stem[i]!) ** 2;
  let energy = 0;
  for (let i = 0; i < reference.length; i++) energy += reference[i]! ** 2;
  const sdr =
    noise <= energy * Math.pow(10, -SDR_CAP_DB / 10)
      ? SDR_CAP_DB
      : Math.min(SDR_CAP_DB, 10 * Math.log10(energy / noise));
  return { sdr, siSdr: oldSiSdr(stem, reference), mixtureSiSdr: oldSiSdr(mixture, reference) };
}

/** The previous evaluate loop (batches of 16), returning the numbers the check compares. */
async function oldEvaluate(
  separator: Separator,
  model: JointModel,
  samples: SampleRef[],
  audio: boolean,
): Promise<Partial<EvalMetrics["classification"]> & { siSdr?: number; sdr?: number; mixtureSiSdr?: number }> {
  const features = separator.features;
  const extractor = getExtractor(features);
  const { nMels, size } = features;
  const cell = nMels * size;
  const k = separator.sources;
  const c = separator.classes.length;
  let named = 0;
  let exact = 0;
  const truth: number[] = [];
  const predicted: number[] = [];
  const siSdrs: number[] = [];
  const sdrs: number[] = [];
  const mixtureSiSdrs: number[] = [];
  for (let b0 = 0; b0 < samples.length; b0 += 16) {
    const batch = samples.slice(b0, b0 + 16);
    const loaded = await Promise.all(
      batch.map(async (s) => {
        const read = async (p: string): Promise<Float32Array> =>
          fixLength((await loadAudio(p, { sampleRate: features.sampleRate })).samples, extractor.length);
        return { mixture: await read(s.mixed), sources: await Promise.all(s.sources.map(read)) };
      }),
    );
    const input = new Float32Array(batch.length * cell);
    const refs = loaded.map((l, i) => {
      const f = oldSampleFeatures(l.mixture, l.sources, features);
      input.set(f[0]!, i * cell);
      return f.slice(1);
    });
    const out = noGrad(() =>
      tidy(() => {
        const y = model.forward(tensor(input, [batch.length, 1, nMels, size]).contiguous("channels_last"));
        return {
          probs: F.softmax(y.logits.float(), 2).toFloat32Array(),
          sep: y.separated.float().contiguous().toFloat32Array(),
        };
      }),
    );
    batch.forEach((sample, i) => {
      const labels = sample.labels.map((l) => separator.classes.indexOf(l));
      const separated = Array.from({ length: k }, (_, s) =>
        out.sep.subarray((i * k + s) * cell, (i * k + s + 1) * cell),
      );
      const probs = out.probs.subarray(i * k * c, (i + 1) * k * c);
      const preds = sourceClasses(probs, c);
      const perm = bestAssignment(separated.map((sep) => refs[i]!.map((r) => meanSquaredError(sep, r))));
      for (let s = 0; s < k; s++) {
        truth.push(labels[perm[s]!]!);
        predicted.push(preds[s]!);
      }
      if (sameLabels(preds, labels)) exact++;
      named += matchedLabels(namedClasses(probs, k, c), labels);
      if (audio) {
        const l = loaded[i]!;
        const stems = oldSeparateClip(l.mixture, separated, features);
        stems.forEach((stem, s) => {
          const scores = oldAudioScores(stem, l.sources[perm[s]!]!, l.mixture);
          siSdrs.push(scores.siSdr);
          sdrs.push(scores.sdr);
          mixtureSiSdrs.push(scores.mixtureSiSdr);
        });
      }
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const n = samples.length;
  return {
    namedAccuracy: named / (n * k),
    pairExactMatch: exact / n,
    microF1: classificationScores(confusionMatrix(truth, predicted, c)).microF1,
    ...(audio
      ? {
          siSdr: finiteMean(siSdrs).mean,
          sdr: finiteMean(sdrs).mean,
          mixtureSiSdr: finiteMean(mixtureSiSdrs).mean,
        }
      : {}),
  };
}

// ---------------------------------------------------------------- the run

const root = tempDir("stemscope-bench-eval-");
const backend = values.backend ?? (values.bf16 ? "libtorch" : "onnx");
const separator = await loadSeparator(values.model);
const current = backend === "libtorch" ? separator : await loadSeparator(values.model, { backend });
// The old path ran the model as loaded (batch norms unfolded); the runner's own copy is folded.
const oldModel = (await loadModelFolder(separator.dir)).model.eval();
try {
  makeRawData(join(root, "raw"), separator.classes, 4, 16000);
  const data = join(root, "data");
  await buildMixtures(
    { data: join(root, "raw"), out: data, samplesPerCombination: Number(values.samples), testFraction: 0 },
    { jobs: 1 },
  );
  const samples = readTrainData(data).samples;
  const n = samples.length;
  type Timed = { mixturesPerSecond: number; cpuMsPerMixture: number };
  const timed = async <T>(fn: () => Promise<T>): Promise<Timed & { result: T }> => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await fn();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { result, mixturesPerSecond: n / seconds, cpuMsPerMixture: (cpu.user + cpu.system) / 1000 / n };
  };
  const runs: Record<string, Timed[]> = { oldAudio: [], newAudio: [], oldClassify: [], newClassify: [] };
  let worstDifference = 0;
  const load0 = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    for (const audio of [true, false]) {
      const old = await timed(() => oldEvaluate(separator, oldModel, samples, audio));
      const now = await timed(() => evaluate(current, data, { subset: "all", audio, bf16: values.bf16 }));
      runs[audio ? "oldAudio" : "oldClassify"]!.push(old);
      runs[audio ? "newAudio" : "newClassify"]!.push(now);
      const a = old.result;
      const b = now.result.classification;
      const diffs = [
        a.namedAccuracy! - b.namedAccuracy,
        a.pairExactMatch! - b.pairExactMatch,
        a.microF1! - b.microF1,
      ];
      if (audio) {
        const scores = now.result.separation.audio!;
        diffs.push(
          a.siSdr! - scores.siSdr.mean,
          a.sdr! - scores.sdr.mean,
          a.mixtureSiSdr! - scores.mixtureSiSdr.mean,
        );
      }
      worstDifference = Math.max(worstDifference, ...diffs.map(Math.abs));
    }
  }
  const median = (xs: Timed[], key: keyof Timed): number => {
    const v = xs.map((x) => x[key]).sort((p, q) => p - q);
    return Number(v[Math.floor(v.length / 2)]!.toFixed(key === "mixturesPerSecond" ? 1 : 2));
  };
  const summary = (xs: Timed[]): Timed => ({
    mixturesPerSecond: median(xs, "mixturesPerSecond"),
    cpuMsPerMixture: median(xs, "cpuMsPerMixture"),
  });
  const s = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, summary(v)])) as Record<
    string,
    Timed
  >;
  process.stdout.write(
    `${JSON.stringify({
      benchmark: "eval",
      cpu: cpuDescription(),
      cores: availableParallelism(),
      threads,
      model: separator.dir,
      mixtures: n,
      rounds,
      bf16: values.bf16,
      backend,
      withAudioMetrics: {
        old: s.oldAudio,
        new: s.newAudio,
        speedup: Number((s.newAudio!.mixturesPerSecond / s.oldAudio!.mixturesPerSecond).toFixed(2)),
      },
      classificationOnly: {
        old: s.oldClassify,
        new: s.newClassify,
        speedup: Number((s.newClassify!.mixturesPerSecond / s.oldClassify!.mixturesPerSecond).toFixed(2)),
      },
      // Named accuracy, pair exact match, micro F1 and mean SI-SDR, SDR and mixture SI-SDR (dB): the
      // largest |old − new|: float rounding for fp32 libtorch; with --bf16 or another backend, how far
      // the new path's numbers drift from the fp32 ones.
      worstMetricDifference: worstDifference,
      loadAvg: [Number(load0.toFixed(1)), Number(loadavg()[0]!.toFixed(1))],
    })}\n`,
  );
} finally {
  if (current !== separator) current.dispose();
  separator.dispose();
  oldModel.dispose();
  rmSync(root, { recursive: true, force: true });
}
