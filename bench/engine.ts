// npm run bench:engine [-- --models seed,fast --modes fp32,bf16 --steps 5 --batch 16 --threads 2]
//
// Trains the same joint U-Net + ResNet in our engine and in Debian's PyTorch (bench/torch_joint.py,
// run by this script) and prints one JSON line per (model, mode):
// {"model","mode","ours_samples_per_s","pytorch_samples_per_s","ratio", ...}. Target: ratio ≥ 0.95.
// Both sides: batch 16, channels-last, Adam(lr 0.0015, wd 1e-4), loss 0.7·ΣMSE + 0.3·ΣCE, median of
// `steps` timed steps after one warm-up step, the same thread count.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { liveTensorCount, setNumThreads } from "../src/engine/index.js";
import { type PresetName, presetConfig, trainingRate } from "../src/model/index.js";
import { median } from "./random-steps.js";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "seed,fast" },
    modes: { type: "string", default: "fp32,bf16" },
    steps: { type: "string", default: "5" },
    batch: { type: "string", default: "16" },
    threads: { type: "string", default: "2" },
    classes: { type: "string", default: "10" },
  },
});
const steps = Number(values.steps);
const batch = Number(values.batch);
const threads = Number(values.threads);
const classes = Number(values.classes);
setNumThreads(threads);

function ours(preset: PresetName, mode: string): { rates: number[]; params: number } {
  return trainingRate(presetConfig(preset, classes), { batch, steps, bf16: mode === "bf16" });
}

function pytorch(preset: PresetName, mode: string): { median: number; params: number } {
  const script = join(dirname(fileURLToPath(import.meta.url)), "torch_joint.py");
  const out = execFileSync(
    "/usr/bin/python3",
    [
      script,
      "--config",
      JSON.stringify(presetConfig(preset, classes)),
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
  const result = JSON.parse(out.trim().split("\n").pop()!) as { median: number; params: number };
  return result;
}

const live = liveTensorCount();
for (const preset of values.models.split(",") as PresetName[]) {
  for (const mode of values.modes.split(",")) {
    const mine = ours(preset, mode);
    const theirs = pytorch(preset, mode);
    const oursRate = median(mine.rates);
    console.log(
      JSON.stringify({
        model: preset,
        mode,
        batch,
        threads,
        params: mine.params,
        pytorch_params: theirs.params,
        ours_samples_per_s: Number(oursRate.toFixed(3)),
        pytorch_samples_per_s: theirs.median,
        ratio: Number((oursRate / theirs.median).toFixed(3)),
      }),
    );
  }
}
if (liveTensorCount() !== live) console.error(`warning: ${liveTensorCount() - live} tensors leaked`);
