// npm run bench:train [-- --preset fast --batch 16 --steps 5 --threads 2 --bf16 --data DIR --skip-pytorch]
//
// Trainer throughput on cached real data (features of WAV mixtures read through the feature cache and
// the loader thread) against, in the same run and with the same model, batch and threads:
//   - our engine alone on random tensors of the same shapes (bench/engine.ts's loop): target ratio ≥ 0.9;
//   - PyTorch on the same model (bench/torch_joint.py, Debian's torch 1.13): target ratio ≥ 0.95.
// Without --data it mixes a small train_data folder from generated tones in a temp folder first.
// Each side: the median samples/s over `steps` steps after one warm-up step. The engine baseline runs
// before and after the trainer and the two medians are averaged (the machine is shared and noisy).
// Prints one JSON line.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeWav } from "../src/audio/index.js";
import { buildMixtures } from "../src/data/mix/mix.js";
import { setNumThreads } from "../src/engine/index.js";
import { type JointModelConfig, type PresetName, presetConfig, trainingRate } from "../src/model/index.js";
import { median } from "./random-steps.js";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { train } from "../src/train/index.js";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "fast" },
    batch: { type: "string", default: "16" },
    steps: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    bf16: { type: "boolean", default: false },
    data: { type: "string" },
    "skip-pytorch": { type: "boolean", default: false },
  },
});
const preset = values.preset as PresetName;
const batch = Number(values.batch);
const steps = Number(values.steps);
const threads = Number(values.threads);
const mode = values.bf16 ? "bf16" : "fp32";
setNumThreads(threads);

/** A train_data folder mixed from generated harmonic tones: 4 classes, enough samples for the steps. */
async function makeData(root: string): Promise<string> {
  const classes = ["bass", "cello", "flute", "piano"];
  const sr = 16000;
  classes.forEach((cls, c) => {
    mkdirSync(join(root, "raw", cls), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const n = sr * 2;
      const x = new Float32Array(n);
      const f = 110 * (c + 1) * (1 + i / 12);
      for (let t = 0; t < n; t++) {
        const s = t / sr;
        x[t] =
          0.3 *
          Math.exp(-1.5 * s) *
          (Math.sin(2 * Math.PI * f * s) + (0.4 / (c + 1)) * Math.sin(6 * Math.PI * f * s));
      }
      writeFileSync(join(root, "raw", cls, `clip${i}.wav`), encodeWav(x, sr).bytes);
    }
  });
  const perCombination = Math.ceil((batch * (steps + 2)) / (6 * 0.75));
  await buildMixtures({
    dataDir: join(root, "raw"),
    outputDir: join(root, "train_data"),
    samplesPerCombination: perCombination,
  });
  return join(root, "train_data");
}

/** The engine alone: the same model and batch on random tensors (trainingRate, src/model/precision.ts). */
function engineAlone(config: JointModelConfig): number {
  return median(trainingRate(config, { batch, steps, bf16: mode === "bf16" }).rates);
}

function pytorch(config: JointModelConfig): number {
  const script = join(dirname(fileURLToPath(import.meta.url)), "torch_joint.py");
  const out = execFileSync(
    "/usr/bin/python3",
    [
      script,
      "--config",
      JSON.stringify(config),
      "--mode",
      mode,
      "--batch",
      String(batch),
      "--steps",
      String(steps),
      "--threads",
      String(threads),
    ],
    { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
  );
  return (JSON.parse(out.trim().split("\n").pop()!) as { median: number }).median;
}

const root = mkdtempSync(join(tmpdir(), "stemscope-bench-train-"));
try {
  const data = values.data ?? (await makeData(root));
  const info = readTrainData(data);
  const config = presetConfig(preset, info.classes.length, info.sources);
  const common = {
    data,
    preset,
    batchSize: batch,
    threads,
    bf16: values.bf16,
    epochs: 1,
    maxSteps: steps + 1,
    cacheDir: join(root, "cache"),
  };
  // Fill the feature cache first (not timed), with a one-step run.
  await train({ ...common, out: join(root, "warm"), maxSteps: 1 });

  const engineBefore = engineAlone(config);
  const stamps: number[] = [];
  const summary = await train(
    { ...common, out: join(root, "run") },
    { onProgress: (e) => void (e.phase === "train" && stamps.push(performance.now())) },
  );
  const trainerRates: number[] = [];
  for (let i = 1; i < stamps.length; i++) trainerRates.push(batch / ((stamps[i]! - stamps[i - 1]!) / 1000));
  const engineAfter = engineAlone(config);
  const trainerRate = median(trainerRates);
  const engineRate = (engineBefore + engineAfter) / 2;
  const torchRate = values["skip-pytorch"] ? null : pytorch(config);
  console.log(
    JSON.stringify({
      preset,
      mode,
      batch,
      threads,
      steps,
      trainer_samples_per_s: Number(trainerRate.toFixed(3)),
      engine_samples_per_s: Number(engineRate.toFixed(3)),
      engine_before_after: [Number(engineBefore.toFixed(3)), Number(engineAfter.toFixed(3))],
      pytorch_samples_per_s: torchRate,
      ratio_vs_engine: Number((trainerRate / engineRate).toFixed(3)),
      ratio_vs_pytorch: torchRate === null ? null : Number((trainerRate / torchRate).toFixed(3)),
      loader_wait_s: summary.last?.loaderWaitSeconds ?? null,
      peak_rss_mb: summary.peakRssMb,
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
