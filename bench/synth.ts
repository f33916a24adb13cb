// Benchmark of `synthesize`: two-second clips per second over all ten classes, jobs = 1 (baseline)
// and jobs = cores, in the same run. "clipsPerSecond" counts the whole call (soundfont loading
// included); "renderClipsPerSecond" counts from the first finished clip on. CPU time (process.cpuUsage,
// all threads: main + workers) is reported too, split at the first finished clip ("loadCpuS": start-up
// and soundfont loading; "renderCpuMsPerClip": after it), since wall time on a shared machine says
// little. "loadAvg" is the 1-minute load average at the start and end of each run. Prints one JSON object.
// Usage: node --import tsx bench/synth.ts [--per-class 20] [--sources all | --soundfonts all] [--no-transforms]
// (--sources: every source group, the default; --soundfonts all: the four Debian soundfonts only.)
import { rmSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { synthesize } from "../src/data/synth/synth.js";
import { tempDir } from "../test/data-helpers.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const perClass = Number(arg("--per-class", "20"));
const list = (value: string): "all" | string[] => (value === "all" ? "all" : value.split(","));
const soundfontsArg = process.argv.includes("--soundfonts") ? arg("--soundfonts", "all") : undefined;
const sourcesArg = arg("--sources", "all");
const selection =
  soundfontsArg !== undefined ? { soundfonts: list(soundfontsArg) } : { sources: list(sourcesArg) };
const transforms = !process.argv.includes("--no-transforms");
const root = tempDir("stemscope-bench-synth-");
const runs = [];
for (const jobs of [1, availableParallelism()]) {
  const load0 = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let firstDone = 0;
  let firstCount = 0;
  let firstCpu = cpu0;
  const result = await synthesize(
    { outDir: join(root, `out${jobs}`), perClass, ...selection, transforms, seconds: 2 },
    {
      jobs,
      onProgress: (e) => {
        if (e.phase === "render" && firstDone === 0 && e.done > 0) {
          firstDone = performance.now();
          firstCount = e.done;
          firstCpu = process.cpuUsage();
        }
      },
    },
  );
  const end = performance.now();
  const cpuEnd = process.cpuUsage();
  const cpuS = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number =>
    (b.user + b.system - a.user - a.system) / 1e6;
  const seconds = (end - t0) / 1000;
  runs.push({
    jobs,
    clips: result.written,
    seconds: Number(seconds.toFixed(2)),
    clipsPerSecond: Number((result.written / seconds).toFixed(1)),
    renderClipsPerSecond: Number(((result.written - firstCount) / ((end - firstDone) / 1000)).toFixed(1)),
    cpuS: Number(cpuS(cpu0, cpuEnd).toFixed(2)),
    loadCpuS: Number(cpuS(cpu0, firstCpu).toFixed(2)),
    renderCpuMsPerClip: Number(((1000 * cpuS(firstCpu, cpuEnd)) / (result.written - firstCount)).toFixed(1)),
    loadAvg: [Number(load0.toFixed(1)), Number(loadavg()[0]!.toFixed(1))],
  });
}
rmSync(root, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ benchmark: "synth", cores: availableParallelism(), ...selection, transforms, perClass, seconds: 2, baseline: runs[0], parallel: runs[1], target: 100 })}\n`,
);
