// npm run bench:infer [-- --model <dir> --seconds 60 --threads 2 --repeats 3]
//
// `predict` on a generated 60-s WAV file, model load included, as the CLI does it (decode, resample,
// features, forward passes in batches of 16, summary), with each backend: libtorch, and onnx
// (onnxruntime-node on the folder's model.onnx, written by `stemscope export` beforehand into a
// temporary copy of the folder) — target ≤ 0.5 s wall on 2 cores with the faster one. Then the
// model's share alone (eval mode, no autograd) for both backends against PyTorch running the same
// model and weights on the same number of windows (bench/infer_torch.py), in the same run.
//
// The model: --model, else the packaged models/default, else a `fast`-preset model with random
// weights written to a temp folder (said in the output; speed does not depend on the weights).
// Prints one JSON line.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeWav, loadAudio } from "../src/audio/index.js";
import {
  F,
  liveTensorCount,
  manualSeed,
  noGrad,
  saveSafetensors,
  setNumThreads,
  tensor,
  tidy,
  withAutocast,
} from "../src/engine/index.js";
import { exportModelFolderToFile, ONNX_FILE } from "../src/export/index.js";
import { getExtractor, resolveFeatureConfig } from "../src/features/index.js";
import { defaultModelDir, loadModel, planWindows, windowSamples } from "../src/infer/index.js";
import {
  JointModel,
  MODEL_FILES,
  MODEL_FORMAT_VERSION,
  presetConfig,
  writeModelConfig,
} from "../src/model/index.js";
import { loadOnnxRunner } from "../src/separator/onnx-runner.js";
import type { LibtorchRunner } from "../src/separator/runner.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    seconds: { type: "string", default: "60" },
    threads: { type: "string", default: "2" },
    repeats: { type: "string", default: "3" },
    batch: { type: "string", default: "16" },
  },
});
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const repeats = Number(values.repeats);
const batch = Number(values.batch);
setNumThreads(threads);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const temp = mkdtempSync(join(tmpdir(), "stemscope-bench-infer-"));
let modelDir = values.model ?? defaultModelDir();
let modelNote = values.model !== undefined ? "given" : "models/default";
if (!existsSync(join(modelDir, "config.json"))) {
  modelDir = join(temp, "model");
  modelNote = "fast preset, random weights (models/default is missing)";
  manualSeed(0);
  const classes = ["cello", "clarinet", "flute", "guitar", "piano", "saxophone", "trumpet", "violin"];
  const config = presetConfig("fast", classes.length);
  const m = new JointModel(config);
  await saveSafetensors(join(modelDir, "weights.safetensors"), m.stateDict());
  m.dispose();
  await writeModelConfig(modelDir, {
    formatVersion: MODEL_FORMAT_VERSION,
    model: config,
    features: resolveFeatureConfig({}),
    classes,
  });
}

// A 44.1-kHz stereo file (so decoding and resampling are part of the work, as for a typical input).
const rate = 44100;
const n = Math.round(seconds * rate);
const left = new Float32Array(n);
const right = new Float32Array(n);
for (let i = 0; i < n; i++) {
  const t = i / rate;
  const f1 = 220 * 2 ** ((Math.floor(t / 2) % 5) / 12);
  left[i] = 0.3 * Math.sin(2 * Math.PI * f1 * t) + 0.1 * Math.sin(4 * Math.PI * f1 * t);
  right[i] = 0.2 * Math.sin(2 * Math.PI * 659 * t) + 0.5 * left[i]!;
}
const wav = join(temp, "song.wav");
writeFileSync(wav, encodeWav([left, right], rate).bytes);

// The onnx backend reads <folder>/model.onnx when it matches the folder: export it once into a copy
// (so the packaged folder is left as it is), as a user would with `stemscope export`.
const onnxDir = join(temp, "onnx-model");
mkdirSync(onnxDir);
for (const file of [MODEL_FILES.config, MODEL_FILES.weights])
  copyFileSync(join(modelDir, file), join(onnxDir, file));
await exportModelFolderToFile(onnxDir, join(onnxDir, ONNX_FILE));

const live = liveTensorCount();
// End to end, as `stemscope predict --backend <b>` runs (model.predictFile = loadAudio + predict), by phase.
const BACKEND_DIRS = { libtorch: modelDir, onnx: onnxDir } as const;
type Backend = keyof typeof BACKEND_DIRS;
const endToEnd = async (backend: Backend) => {
  const walls: number[] = [];
  const cpu: number[] = [];
  const phases = {
    load_model_s: [] as number[],
    decode_resample_s: [] as number[],
    predict_s: [] as number[],
  };
  let windowCount = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const model = await loadModel(BACKEND_DIRS[backend], { backend });
    const t1 = performance.now();
    const loaded = await loadAudio(wav, { sampleRate: model.features.sampleRate });
    const t2 = performance.now();
    const prediction = await model.predict(loaded.samples, loaded.sampleRate, { batchSize: batch });
    const t3 = performance.now();
    const used = process.cpuUsage(c0);
    walls.push((t3 - t0) / 1000);
    cpu.push((used.user + used.system) / 1e6);
    phases.load_model_s.push((t1 - t0) / 1000);
    phases.decode_resample_s.push((t2 - t1) / 1000);
    phases.predict_s.push((t3 - t2) / 1000);
    windowCount = prediction.windows.length;
    model.dispose();
  }
  const wall = median(walls);
  return {
    windows: windowCount,
    summary: {
      predict_wall_s: walls.map((v) => Number(v.toFixed(3))),
      predict_wall_median_s: Number(wall.toFixed(3)),
      real_time_factor: Number((wall / seconds).toFixed(4)),
      // CPU time of this process over the run, all threads (on a busy machine the wall time grows
      // with the other jobs' load, the CPU time much less; spinning worker threads count too).
      predict_cpu_median_s: Number(median(cpu).toFixed(3)),
      load_model_median_s: Number(median(phases.load_model_s).toFixed(3)),
      decode_resample_median_s: Number(median(phases.decode_resample_s).toFixed(3)),
      features_and_forward_median_s: Number(median(phases.predict_s).toFixed(3)),
    },
  };
};
const libtorchRun = await endToEnd("libtorch");
const onnxRun = await endToEnd("onnx");
const windows = libtorchRun.windows;

// The model's share alone: the same windows' forward passes, eval mode, no autograd.
const model = await loadModel(modelDir);
const joint = (model.runner as LibtorchRunner).model;
const ex = getExtractor(model.features);
const { nMels, size } = model.features;
const audio = new Float32Array(Math.round(seconds * model.features.sampleRate));
for (let i = 0; i < audio.length; i++)
  audio[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / model.features.sampleRate);
const plan = planWindows(audio.length, ex.length, model.features.sampleRate);
const features = new Float32Array(plan.length * ex.outputSize);
const tf = performance.now();
plan.forEach((w, i) => ex.compute(windowSamples(audio, w), features, i * ex.outputSize));
const featureSeconds = (performance.now() - tf) / 1000;
const forwardOnce = (bf16 = false): void => {
  for (let b = 0; b < plan.length; b += batch) {
    const count = Math.min(batch, plan.length - b);
    noGrad(() =>
      tidy(() => {
        const x = tensor(features.subarray(b * ex.outputSize, (b + count) * ex.outputSize), [
          count,
          1,
          nMels,
          size,
        ]);
        const run = () => joint.forward(x.contiguous("channels_last"));
        const y = bf16 ? withAutocast(run) : run();
        F.softmax(y.logits, 2).toFloat32Array();
        y.separated.toFloat32Array();
      }),
    );
  }
};
forwardOnce(); // warm-up
const forward: number[] = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  forwardOnce();
  forward.push((performance.now() - t0) / 1000);
}
forwardOnce(true); // warm-up
const forwardBf16: number[] = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  forwardOnce(true);
  forwardBf16.push((performance.now() - t0) / 1000);
}
// The same forward passes in onnxruntime-node (the onnx backend's runner; planes returned, as above).
const onnxRunner = await loadOnnxRunner(onnxDir, model.config);
const onnxForwardOnce = async (): Promise<void> => {
  for (let b = 0; b < plan.length; b += batch) {
    const count = Math.min(batch, plan.length - b);
    await onnxRunner.forward(features.subarray(b * ex.outputSize, (b + count) * ex.outputSize), count, {
      planes: true,
      bf16: false,
    });
  }
};
await onnxForwardOnce(); // warm-up
const onnxForward: number[] = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  await onnxForwardOnce();
  onnxForward.push((performance.now() - t0) / 1000);
}
onnxRunner.dispose();
const params = joint.parameterCount();
const preset = model.config.model.preset;
model.dispose();

const script = join(dirname(fileURLToPath(import.meta.url)), "infer_torch.py");
const torchOut = execFileSync(
  "/usr/bin/python3",
  [
    script,
    "--model",
    modelDir,
    "--windows",
    String(plan.length),
    "--batch",
    String(batch),
    "--threads",
    String(threads),
    "--repeats",
    String(repeats),
  ],
  { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
);
const torchResult = JSON.parse(torchOut.trim().split("\n").pop()!) as {
  median_s: number;
  load_s: number;
  params: number;
};
rmSync(temp, { recursive: true, force: true });

const faster: Backend =
  onnxRun.summary.predict_wall_median_s < libtorchRun.summary.predict_wall_median_s ? "onnx" : "libtorch";
const fasterWall = Math.min(onnxRun.summary.predict_wall_median_s, libtorchRun.summary.predict_wall_median_s);
console.log(
  JSON.stringify({
    model: modelNote,
    preset,
    params,
    audio_seconds: seconds,
    windows,
    batch,
    threads,
    libtorch: libtorchRun.summary,
    onnx: onnxRun.summary,
    faster_backend: faster,
    target_s: 0.5,
    target_met: fasterWall <= 0.5,
    features_s: Number(featureSeconds.toFixed(3)),
    ours_forward_median_s: Number(median(forward).toFixed(3)),
    ours_forward_bf16_median_s: Number(median(forwardBf16).toFixed(3)),
    onnxruntime_forward_median_s: Number(median(onnxForward).toFixed(3)),
    pytorch_forward_median_s: torchResult.median_s,
    pytorch_params: torchResult.params,
    forward_ratio_pytorch_over_ours: Number((torchResult.median_s / median(forward)).toFixed(3)),
    forward_ratio_ours_over_onnxruntime: Number((median(forward) / median(onnxForward)).toFixed(3)),
  }),
);
if (liveTensorCount() !== live) console.error(`warning: ${liveTensorCount() - live} tensors leaked`);
