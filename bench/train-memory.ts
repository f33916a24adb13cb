// npm run bench:train-memory -- --data <train_data> [--steps 1000 --preset fast --batch 32 --bf16 --threads 2]
//
// Memory profile of a real training run: `steps` optimizer steps of the trainer on a train_data
// folder (a `stemscope mix` output), sampling the process RSS twice a second. Prints one JSON line:
// peak RSS, RSS after the first 10% of the run and at its end (a flat profile has them close), the
// caching allocator's hit rate, and samples/s. Not a test: the numbers depend on the machine.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { allocatorStats } from "../src/engine/index.js";
import type { PresetName } from "../src/model/index.js";
import { train } from "../src/train/index.js";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    steps: { type: "string", default: "1000" },
    preset: { type: "string", default: "fast" },
    batch: { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
    bf16: { type: "boolean", default: false },
  },
});
if (values.data === undefined) {
  process.stderr.write(
    "bench:train-memory: --data <train_data folder> is required (e.g. made by `stemscope mix`)\n",
  );
  process.exit(2);
}
const steps = Number(values.steps);
const out = join(mkdtempSync(join(tmpdir(), "stemscope-train-memory-")), "run");
const rss: { t: number; step: number; mb: number }[] = [];
let step = 0;
let last = 0;
const t0 = performance.now();
try {
  const summary = await train(
    {
      data: values.data,
      out,
      preset: values.preset as PresetName,
      features: "native",
      unetOutput: "mask",
      bf16: values.bf16,
      batchSize: Number(values.batch),
      epochs: 1000,
      maxSteps: steps,
      threads: Number(values.threads),
    },
    {
      onProgress: (e) => {
        if (e.phase !== "train") return;
        step++;
        const now = performance.now();
        if (now - last >= 500) {
          last = now;
          rss.push({ t: (now - t0) / 1000, step, mb: process.memoryUsage().rss / 2 ** 20 });
        }
      },
    },
  );
  const at = (fraction: number): number =>
    Math.round(rss.find((r) => r.step >= fraction * steps)?.mb ?? rss[rss.length - 1]!.mb);
  const stats = allocatorStats();
  console.log(
    JSON.stringify({
      steps,
      preset: values.preset,
      batch: Number(values.batch),
      bf16: values.bf16,
      peak_rss_mb: summary.peakRssMb,
      rss_mb_at_10pct: at(0.1),
      rss_mb_at_50pct: at(0.5),
      rss_mb_at_end: Math.round(rss[rss.length - 1]!.mb),
      max_sampled_rss_mb: Math.round(Math.max(...rss.map((r) => r.mb))),
      allocator_hit_rate: Number((stats.hits / Math.max(1, stats.hits + stats.misses)).toFixed(4)),
      samples_per_s: Number((summary.last?.samplesPerSecond ?? 0).toFixed(2)),
    }),
  );
} finally {
  rmSync(join(out, ".."), { recursive: true, force: true });
}
