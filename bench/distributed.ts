// npm run bench:distributed [-- --preset fast --batch 16 --steps 6 --models fast,seed --reps 10]
//
// Data-parallel training on this machine, in one run:
//   - training samples/s of 1 process × 2 threads (batch `batch`) against 2 ranks × 1 thread
//     (batch `batch`/2 each: the same samples per step), and 1 process × 1 thread (how the ranks
//     scale), all through train() on cached features
//     of generated tones; each side the median over `steps` steps after one warm-up step, per-step
//     times from rank 0's progress events;
//   - the gradient all-reduce of each model in `models` (DDP's average in 25-MiB buckets over Gloo on
//     loopback, two ranks): MB per step and the median ms over `reps`.
// Prints one JSON line. Roles: without --role the coordinator; `--role rank` is one rank (spawned).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildMixtures } from "../src/data/mix/mix.js";
import { dispose, ProcessGroup, setNumThreads, zeros } from "../src/engine/index.js";
import { JointModel, type PresetName, presetConfig } from "../src/model/index.js";
import { train } from "../src/train/index.js";
import { makeRawData } from "../test/data-helpers.js";
import { freePort } from "../test/net-helpers.js";
import { median } from "./random-steps.js";

const { values } = parseArgs({
  options: {
    role: { type: "string", default: "coordinator" },
    preset: { type: "string", default: "fast" },
    batch: { type: "string", default: "16" },
    steps: { type: "string", default: "6" },
    models: { type: "string", default: "fast,seed" },
    reps: { type: "string", default: "10" },
    // role rank only
    data: { type: "string" },
    out: { type: "string" },
    cache: { type: "string" },
    rank: { type: "string", default: "0" },
    world: { type: "string", default: "1" },
    threads: { type: "string", default: "2" },
    port: { type: "string", default: "29500" },
  },
});
const preset = values.preset as PresetName;
const batch = Number(values.batch);
const steps = Number(values.steps);

/** One rank's training run; prints the times of rank 0's steps (ms) as JSON. */
async function rankRole(): Promise<void> {
  const world = Number(values.world);
  const stamps: number[] = [];
  await train(
    {
      data: values.data!,
      out: values.out!,
      cacheDir: values.cache!,
      preset,
      batchSize: batch / world,
      threads: Number(values.threads),
      epochs: 1,
      maxSteps: steps + 1,
      worldSize: world,
    },
    {
      onProgress: (e) => void (e.phase === "train" && stamps.push(performance.now())),
      distributed: { rank: Number(values.rank), masterPort: Number(values.port) },
    },
  );
  console.log(JSON.stringify({ stamps }));
}

let runs = 0;

/** Samples/s per step of a run of `world` ranks × `threads` threads: the median after the warm-up step. */
async function trainingRate(data: string, root: string, world: number, threads: number): Promise<number> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const out = join(root, `run-${++runs}`);
  const ranks = Array.from({ length: world }, (_, rank) => {
    const args = [
      ...process.execArgv,
      script,
      "--role",
      "rank",
      "--preset",
      preset,
      "--batch",
      String(batch),
      "--steps",
      String(steps),
      "--data",
      data,
      "--out",
      out,
      "--cache",
      join(root, "cache"),
      "--rank",
      String(rank),
      "--world",
      String(world),
      "--threads",
      String(threads),
      "--port",
      String(port),
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    return new Promise<string>((resolve, reject) =>
      child.once("close", (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`rank ${rank} exited ${code}`)),
      ),
    );
  });
  const outputs = await Promise.all(ranks);
  const { stamps } = JSON.parse(outputs[0]!.trim().split("\n").pop()!) as { stamps: number[] };
  const rates: number[] = [];
  for (let i = 2; i < stamps.length; i++) rates.push(batch / ((stamps[i]! - stamps[i - 1]!) / 1000));
  return median(rates);
}

/** The all-reduce of a model's gradients between two ranks in this process: MB, median ms, buckets. */
async function allReduceCost(
  name: PresetName,
  reps: number,
): Promise<{ mb: number; ms: number; tensors: number }> {
  const model = new JointModel(presetConfig(name, 4, 2)).toChannelsLast();
  const shapes = model.parameters().map((p) => p.shape);
  model.dispose();
  const port = await freePort();
  const groups = await Promise.all(
    [0, 1].map((rank) =>
      ProcessGroup.create({
        masterAddr: "127.0.0.1",
        masterPort: port,
        worldSize: 2,
        rank,
        timeoutSeconds: 120,
      }),
    ),
  );
  // Gradients have their parameter's layout: 4-D ones channels-last.
  const grads = groups.map(() =>
    shapes.map((s) => (s.length === 4 ? zeros(s).contiguous("channels_last") : zeros(s))),
  );
  const times: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      await Promise.all(groups.map((g, r) => g.allReduce(grads[r]!, { op: "avg" })));
      if (i > 0) times.push(performance.now() - t0);
    }
  } finally {
    for (const list of grads) dispose(list);
    for (const g of groups) g.destroy();
  }
  const bytes = shapes.reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0);
  return {
    mb: Number((bytes / 2 ** 20).toFixed(2)),
    ms: Number(median(times).toFixed(2)),
    tensors: shapes.length,
  };
}

async function coordinator(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "stemscope-bench-ddp-"));
  try {
    makeRawData(join(root, "raw"), ["bass", "cello", "flute", "piano"], 6, 16000);
    const data = join(root, "train_data");
    // 6 combinations × n samples, 80 % for training: enough for (steps + 1) steps of `batch`.
    const perCombination = Math.ceil((batch * (steps + 3)) / (6 * 0.8));
    await buildMixtures(
      { data: join(root, "raw"), out: data, samplesPerCombination: perCombination },
      { jobs: 2 },
    );
    setNumThreads(2);
    const oneProcess = await trainingRate(data, root, 1, 2);
    const twoRanks = await trainingRate(data, root, 2, 1);
    // What one rank's thread alone does: tells the ranks' scaling from OpenMP's 2-thread efficiency.
    const oneThread = await trainingRate(data, root, 1, 1);
    const oneProcessAgain = await trainingRate(data, root, 1, 2);
    const reps = Number(values.reps);
    const allReduce: Record<string, { mb: number; ms: number; tensors: number }> = {};
    for (const name of values.models.split(","))
      allReduce[name] = await allReduceCost(name as PresetName, reps);
    const baseline = (oneProcess + oneProcessAgain) / 2;
    console.log(
      JSON.stringify({
        cpu: cpus()[0]?.model,
        cores: availableParallelism(),
        preset,
        batch_per_step: batch,
        steps,
        one_process_2_threads_samples_per_s: Number(baseline.toFixed(3)),
        one_process_before_after: [Number(oneProcess.toFixed(3)), Number(oneProcessAgain.toFixed(3))],
        two_ranks_1_thread_samples_per_s: Number(twoRanks.toFixed(3)),
        one_process_1_thread_samples_per_s: Number(oneThread.toFixed(3)),
        ratio_two_ranks_vs_one_process: Number((twoRanks / baseline).toFixed(3)),
        all_reduce_per_step: allReduce,
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (values.role === "rank") await rankRole();
else await coordinator();
