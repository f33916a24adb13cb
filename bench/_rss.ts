import { rmSync } from "node:fs";
import { train } from "../src/train/index.js";
const out = `/tmp/rss-run-${process.pid}`;
rmSync(out, { recursive: true, force: true });
const samples: number[] = [];
let last = 0;
const r = await train(
  { data: "/work/data/exp3", out, preset: "fast", featureMode: "native", unetOutput: "mask", bf16: true, batchSize: 32, epochs: 2, maxSteps: Number(process.argv[2] ?? 100), threads: 2 },
  { onProgress: (e) => { const now = performance.now(); if (now - last > 500) { last = now; samples.push(Math.round(process.memoryUsage().rss / 2 ** 20)); } } },
);
console.log(JSON.stringify({ env: process.env.MALLOC_ARENA_MAX ?? "default", peakRssMb: r.peakRssMb, samples: samples.filter((_, i) => i % 4 === 0) }));
rmSync(out, { recursive: true, force: true });
