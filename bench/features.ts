/**
 * Feature-extraction throughput: `npm run bench:features [-- --clips N --threads T]`.
 *
 * Times the `seed` pipeline on N two-second 16 kHz clips (a) in TypeScript on this thread
 * (computeFeaturesBatch with native: false) and on a warm TypeScript FeatureWorkerPool, (b) with the
 * native kernel (src/features/native-kernel.ts) on 1 and T threads, and, in the same run, the same
 * work in numpy/scipy/skimage (bench/features_numpy.py under /usr/bin/python3) as the baseline.
 * Prints one JSON object; also checks our features against numpy's on the first clips.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  FeatureWorkerPool,
  computeFeaturesBatch,
  decodeNpy,
  featureKernel,
  featureKernelStatus,
  getExtractor,
} from "../src/features/index.js";

const { values } = parseArgs({
  options: {
    clips: { type: "string", default: "512" },
    threads: { type: "string", default: String(availableParallelism()) },
    repeats: { type: "string", default: "3" },
    "numpy-clips": { type: "string", default: "128" },
    "no-numpy": { type: "boolean", default: false },
  },
});
const count = Number(values.clips);
const threads = Number(values.threads);
const repeats = Number(values.repeats);

/** The clips of bench/features_numpy.py: a chord whose pitch depends on the clip index, plus LCG noise. */
function makeClips(n: number): Float32Array[] {
  const len = 32000;
  const noise = new Float64Array(len);
  let s = 2024;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(1664525, s) + 1013904223) >>> 0;
    noise[i] = (s / 2 ** 32) * 2 - 1;
  }
  const clips: Float32Array[] = [];
  for (let b = 0; b < n; b++) {
    const f = 110 * (1 + (b % 24) / 12);
    const x = new Float32Array(len);
    for (let i = 0; i < len; i++) {
      const t = i / 16000;
      x[i] =
        0.3 * Math.sin(2 * Math.PI * f * t) +
        0.2 * Math.sin(2 * Math.PI * 2.5 * f * t) +
        0.05 * (noise[i] as number);
    }
    clips.push(x);
  }
  return clips;
}

/**
 * Best-of-`repeats` wall-clock rate, and the process CPU time per clip of that run (all threads;
 * on a shared, busy machine CPU time says what a clip costs even when wall time does not).
 */
async function bestRate(
  run: () => unknown | Promise<unknown>,
): Promise<{ clipsPerSecond: number; cpuMsPerClip: number }> {
  let best = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run();
    const wall = performance.now() - t0;
    const used = process.cpuUsage(c0);
    if (wall < best) best = wall;
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  return { clipsPerSecond: (count * 1000) / best, cpuMsPerClip: cpu / count };
}

type Rate = { clipsPerSecond: number; cpuMsPerClip: number };
const clips = makeClips(count);
const js = { native: false } as const;
computeFeaturesBatch(clips.slice(0, 32), {}, js); // JIT warm-up
const singleThread = await bestRate(() => computeFeaturesBatch(clips, {}, js));

const t0 = performance.now();
const pool = new FeatureWorkerPool(threads, js);
await pool.compute(clips.slice(0, threads * 8)); // start-up + warm-up
const poolStartMs = performance.now() - t0;
const workers = await bestRate(() => pool.compute(clips));
await pool.close();

const kernel = featureKernelStatus();
let native: { oneThread: Rate; threads: Rate; pool: Rate; baseline: Rate | null } | null = null;
if (kernel.available) {
  computeFeaturesBatch(clips.slice(0, 8), {}, { threads: 1 }); // loads the addon, builds the plan
  const oneThread = await bestRate(() => computeFeaturesBatch(clips, {}, { threads: 1 }));
  const many = await bestRate(() => computeFeaturesBatch(clips, {}, { threads }));
  const nativePool = new FeatureWorkerPool(threads);
  const poolRate = await bestRate(() => nativePool.compute(clips));
  await nativePool.close();
  // The x86-64 baseline build (2 frames per SSE2 register), which CPUs without AVX2 + FMA run.
  let baseline: Rate | null = null;
  const k = featureKernel();
  if (k !== null && kernel.isa === "avx2") {
    const extractor = getExtractor();
    const plan = new k.FeaturePlan(extractor.kernelSpec());
    const out = new Float32Array(count * extractor.outputSize);
    baseline = await bestRate(() => k.featuresBatch(plan, clips, out, { threads, isa: "baseline" }));
  }
  native = { oneThread, threads: many, pool: poolRate, baseline };
}

let numpy: Record<string, unknown> | string = "skipped (--no-numpy)";
let maxAbsDiffVsNumpy: { typescript: number; native?: number } | null = null;
if (!values["no-numpy"]) {
  if (!existsSync("/usr/bin/python3")) {
    numpy = "skipped: /usr/bin/python3 not found";
  } else {
    const dir = mkdtempSync(join(tmpdir(), "stemscope-bench-"));
    try {
      const out = join(dir, "numpy.npy");
      const script = new URL("./features_numpy.py", import.meta.url).pathname;
      const stdout = execFileSync(
        "/usr/bin/python3",
        [script, "--clips", values["numpy-clips"], "--repeats", String(repeats), "--out", out],
        {
          encoding: "utf8",
        },
      );
      numpy = JSON.parse(stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
      const theirs = decodeNpy(readFileSync(out), out);
      const first = clips.slice(0, theirs.shape[0] as number);
      const diff = (ours: Float32Array): number => {
        let m = 0;
        for (let i = 0; i < ours.length; i++)
          m = Math.max(m, Math.abs((ours[i] as number) - (theirs.data[i] as number)));
        return m;
      };
      maxAbsDiffVsNumpy = { typescript: diff(computeFeaturesBatch(first, {}, js)) };
      if (native !== null) maxAbsDiffVsNumpy.native = diff(computeFeaturesBatch(first));
    } catch (error) {
      numpy = `failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const numpyRate = typeof numpy === "object" ? (numpy.perClipClipsPerSecond as number) : null;
const numpyBatchedRate = typeof numpy === "object" ? (numpy.batchedClipsPerSecond as number) : null;
const cores = availableParallelism();
/** A row: wall-clock rate, CPU time per clip, and the ratios to numpy's per-clip and batched rates. */
const row = (r: Rate, extra: Record<string, unknown> = {}) => ({
  ...extra,
  clipsPerSecond: Math.round(r.clipsPerSecond),
  cpuMsPerClip: Number(r.cpuMsPerClip.toFixed(3)),
  ...(numpyRate === null || numpyBatchedRate === null
    ? {}
    : {
        vsNumpyPerClip: Number((r.clipsPerSecond / numpyRate).toFixed(1)),
        vsNumpyBatched: Number((r.clipsPerSecond / numpyBatchedRate).toFixed(1)),
      }),
});
const best = native?.threads ?? workers;
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: "seed features, 2-s 16 kHz clips → [128, 128]",
      clips: count,
      cpu: `${cpus()[0]?.model ?? "unknown"} × ${availableParallelism()}`,
      loadAverageAtEnd: loadavg().map((v) => Number(v.toFixed(2))),
      ours: {
        singleThread: row(singleThread, { backend: "typescript" }),
        workers: row(workers, { backend: "typescript", threads, poolStartMs: Math.round(poolStartMs) }),
        native:
          native === null
            ? `unavailable: ${kernel.reason}`
            : {
                isa: kernel.isa,
                oneThread: row(native.oneThread, { threads: 1 }),
                threads: row(native.threads, { threads }),
                pool: row(native.pool, { threads, note: "FeatureWorkerPool, off the JS thread" }),
                ...(native.baseline === null
                  ? {}
                  : {
                      baselineIsa: row(native.baseline, {
                        threads,
                        note: "SSE2 build, for CPUs without AVX2",
                      }),
                    }),
              },
        projectedClipsPerSecondOnIdleCores: {
          cores,
          clipsPerSecond: Math.round((cores * 1000) / best.cpuMsPerClip),
          note: `cores / CPU time per clip of the ${native === null ? "worker pool" : `native kernel on ${threads} threads`}; equals the wall-clock rate only when nothing else runs`,
        },
      },
      numpy,
      speedupVsNumpyPerClip:
        numpyRate === null
          ? null
          : Number(
              (
                Math.max(
                  singleThread.clipsPerSecond,
                  workers.clipsPerSecond,
                  native?.threads.clipsPerSecond ?? 0,
                ) / numpyRate
              ).toFixed(1),
            ),
      maxAbsDiffVsNumpy,
      target: "≥ 2000 clips/s on 2 cores",
      targetMetWallClock: best.clipsPerSecond >= 2000,
    },
    null,
    2,
  )}\n`,
);
