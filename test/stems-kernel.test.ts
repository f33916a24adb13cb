// The batched stems (separateBatch): the native kernel (native/src/stems.cc) against the TypeScript
// separateClip, clip by clip, and the fallback of modes the kernel does not take.
import assert from "node:assert/strict";
import { test } from "node:test";
import { featureKernel } from "../src/features/native-kernel.js";
import { resolveFeatureConfig, type FeatureConfig } from "../src/features/index.js";
import { clipLength } from "../src/features/pipeline.js";
import { separateBatch, separateClip, type StemsKernelIsa } from "../src/separator/masks.js";
import { lcgNoise } from "./feature-helpers.js";

const TOLERANCE = 1e-6;

/** B clips of noise and tones, and [B, K, nMels, size] planes in [-0.2, 1] (some ≤ 0: the floor). */
function batchOf(
  config: FeatureConfig,
  b: number,
  k: number,
): { clips: Float32Array[]; planes: Float32Array } {
  const n = clipLength(config);
  const clips = Array.from({ length: b }, (_, i) => {
    const noise = lcgNoise(n, 17 + i);
    return Float32Array.from(
      noise,
      (v, j) => 0.1 * v + 0.3 * Math.sin((2 * Math.PI * (220 + 110 * i) * j) / config.sampleRate),
    );
  });
  const raw = lcgNoise(b * k * config.nMels * config.size, 99);
  const planes = Float32Array.from(raw, (v) => 0.4 + 0.6 * v);
  // a whole column where every source is at the floor (shares 1/K) in clip 0
  for (let s = 0; s < k; s++)
    for (let m = 0; m < config.nMels; m++)
      planes[s * config.nMels * config.size + m * config.size + 5] = -0.1;
  return { clips, planes };
}

function worstDifference(
  config: FeatureConfig,
  b: number,
  k: number,
  threads: number,
  isa: StemsKernelIsa = "auto",
): number {
  const { clips, planes } = batchOf(config, b, k);
  const n = clipLength(config);
  const cell = config.nMels * config.size;
  const got = separateBatch(clips, planes, k, config, threads, isa);
  let worst = 0;
  clips.forEach((clip, i) => {
    const separated = Array.from({ length: k }, (_, s) =>
      planes.subarray((i * k + s) * cell, (i * k + s + 1) * cell),
    );
    separateClip(clip, separated, config).forEach((stem, s) => {
      for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(stem[j]! - got[(i * k + s) * n + j]!));
    });
  });
  return worst;
}

test("stems kernel: native-mode stems equal separateClip's (2 and 3 sources, 1 and 2 threads, each build, FFT sizes with a radix-2 and a radix-4 first stage)", (t) => {
  const kernel = featureKernel();
  if (kernel === null) return t.skip("native addon not built");
  // the AVX2 + FMA build where this CPU runs it (the CI machines have both kinds of CPU)
  const isas: StemsKernelIsa[] = kernel.featureKernelIsa === "avx2" ? ["baseline", "avx2"] : ["baseline"];
  for (const nFft of [2048, 1024]) {
    const config = resolveFeatureConfig({ mode: "native", seconds: 0.5, size: 32, nFft });
    for (const isa of isas) {
      const two = worstDifference(config, 3, 2, 1, isa);
      assert.ok(two < TOLERANCE, `nFft ${nFft}, ${isa}, 2 sources: ${two}`);
      const three = worstDifference(config, 5, 3, 2, isa);
      assert.ok(three < TOLERANCE, `nFft ${nFft}, ${isa}, 3 sources: ${three}`);
    }
  }
});

test("separateBatch: seed mode (no kernel) gives separateClip's stems", () => {
  const config = resolveFeatureConfig({ mode: "seed", seconds: 0.5, hopLength: 256, size: 32 });
  assert.equal(worstDifference(config, 2, 2, 2), 0);
});

test("stems kernel: a planes array of the wrong size is refused with the expected size", (t) => {
  if (featureKernel() === null) return t.skip("native addon not built");
  const config = resolveFeatureConfig({ mode: "native", seconds: 0.5, size: 32 });
  const { clips } = batchOf(config, 2, 2);
  assert.throws(
    () => separateBatch(clips, new Float32Array(10), 2, config),
    /stemsBatch: argument 'planes' must be a Float32Array of \d+ values/,
  );
});
