// Benchmark of `buildMixtures`: mixtures per second on generated 16 kHz clips, jobs = 1 (baseline)
// and jobs = cores, in the same run. Also CPU time (process.cpuUsage: main thread + workers, user and
// system) per mixture and the 1-minute load average, since wall time on a shared machine (and disk)
// says little. Prints one JSON object.
// Usage: node --import tsx bench/mix.ts [--classes 5] [--clips 200] [--samples 1000]  (10,000 mixtures;
// put TMPDIR on a RAM disk, e.g. TMPDIR=/dev/shm, to measure without the disk)
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { buildMixtures } from "../src/data/mix/mix.js";
import { makeRawData, tempDir } from "../test/data-helpers.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const classes = arg("--classes", 5);
const clips = arg("--clips", 200);
const samples = arg("--samples", 1000);
const root = tempDir("stemscope-bench-mix-");
const names = Array.from({ length: classes }, (_, i) => `class${i}`);
makeRawData(join(root, "raw"), names, clips, 16000);
const total = ((classes * (classes - 1)) / 2) * samples;
const runs: {
  jobs: number;
  seconds: number;
  mixturesPerSecond: number;
  cpuMsPerMixture: number;
  systemCpuMsPerMixture: number;
  loadAvg: number[];
}[] = [];
for (const jobs of [1, availableParallelism()]) {
  const out = join(root, `out${jobs}`);
  const load0 = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await buildMixtures(
    { dataDir: join(root, "raw"), outputDir: out, samplesPerCombination: samples },
    { jobs },
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  runs.push({
    jobs,
    seconds: Number(seconds.toFixed(3)),
    mixturesPerSecond: Number((total / seconds).toFixed(1)),
    cpuMsPerMixture: Number(((cpu.user + cpu.system) / 1000 / total).toFixed(2)),
    systemCpuMsPerMixture: Number((cpu.system / 1000 / total).toFixed(2)),
    loadAvg: [Number(load0.toFixed(1)), Number(loadavg()[0]!.toFixed(1))],
  });
  rmSync(out, { recursive: true, force: true });
}
rmSync(root, { recursive: true, force: true });
const baseline = runs[0]!;
const best = runs[runs.length - 1]!;
process.stdout.write(
  `${JSON.stringify({
    benchmark: "mix",
    cores: availableParallelism(),
    classes,
    clipsPerClass: clips,
    mixtures: total,
    seconds: 2,
    sampleRate: 16000,
    baseline,
    parallel: best,
    speedup: Number((baseline.seconds / best.seconds).toFixed(2)),
    target: 1000,
  })}\n`,
);
