// Benchmark of the clip pool's two storages (`train --clip-storage memory|disk`): the time to load a
// clip library, the memory it holds, and the time to draw and render one training batch of mixtures
// (K sources each), memory being the baseline. Rounds alternate between the two storages and the
// median round counts; the disk rounds read through the OS's file cache (the library was just
// written or loaded), as a training run's do once its clips have been read. Prints one JSON object.
// Usage: node --import tsx bench/remix.ts [--classes 10] [--clips 200] [--seconds 4] [--batch 32]
//   [--sources 2] [--rounds 7] [--batches 10]   (a generated library of 16 kHz tones in a temp folder)
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { type ClipPool, type ClipStorage, loadClipPool, Remixer } from "../src/data/mix/remix.js";
import { Random } from "../src/util/random.js";
import { makeRawData, tempDir } from "../test/data-helpers.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const classes = arg("--classes", 10);
const clips = arg("--clips", 200);
const seconds = arg("--seconds", 4);
const batch = arg("--batch", 32);
const sources = arg("--sources", 2);
const rounds = arg("--rounds", 7);
const batches = arg("--batches", 10);
const sampleRate = 16000;
const root = tempDir("stemscope-bench-remix-");
const names = Array.from({ length: classes }, (_, i) => `class${i}`);
makeRawData(join(root, "raw"), names, clips, sampleRate, { seconds });

const storages: ClipStorage[] = ["memory", "disk"];
const pools = new Map<ClipStorage, ClipPool>();
const loading: Record<string, { seconds: number; heldMiB: number }> = {};
for (const storage of storages) {
  global.gc?.();
  const held0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  pools.set(storage, await loadClipPool(join(root, "raw"), { sampleRate, storage }));
  loading[storage] = {
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    heldMiB: Number(((process.memoryUsage().arrayBuffers - held0) / 2 ** 20).toFixed(1)),
  };
}

const settings = { sources, length: 2 * sampleRate, gainDb: [-6, 6] as const, peak: 0.9 };
const times: Record<string, number[]> = { memory: [], disk: [] };
const load0 = loadavg()[0]!;
for (let round = 0; round < rounds; round++) {
  for (const storage of storages) {
    const pool = pools.get(storage)!;
    const remixer = new Remixer(
      pool,
      pool.clips.map((_, i) => i),
      settings,
    );
    // The same draws for both storages in a round, other draws in the next.
    const random = new Random(round);
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await remixer.draw(batch, random);
    times[storage]!.push((performance.now() - t0) / batches);
  }
}
rmSync(root, { recursive: true, force: true });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = { memory: median(times.memory!), disk: median(times.disk!) };
process.stdout.write(
  `${JSON.stringify({
    benchmark: "remix",
    cores: availableParallelism(),
    library: { classes, clips: classes * clips, seconds, sampleRate },
    loading,
    batch: { mixtures: batch, sources },
    msPerBatch: { memory: Number(ms.memory.toFixed(2)), disk: Number(ms.disk.toFixed(2)) },
    diskOverMemory: Number((ms.disk / ms.memory).toFixed(2)),
    loadAvg: [Number(load0.toFixed(1)), Number(loadavg()[0]!.toFixed(1))],
  })}\n`,
);
