import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  type FeatureConfig,
  FeatureError,
  FeatureExtractor,
  FeatureWorkerPool,
  computeFeaturesBatch,
  featureKernel,
  featureKernelStatus,
  kernelFeaturesBatch,
} from "../src/features/index.js";
import { lcgNoise, maxAbsDiff } from "./feature-helpers.js";

const kernel = featureKernel();
const skip = kernel === null ? `native feature kernel unavailable: ${featureKernelStatus().reason}` : false;
const SR = 16000;

/** Sines, a chirp, noise, a decaying burst, silence, a short clip, an over-long clip, an empty one. */
function variedClips(): Float32Array[] {
  const n = 2 * SR;
  const sine = new Float32Array(n);
  const chirp = new Float32Array(n);
  const chord = new Float32Array(n);
  const noise = Float32Array.from(lcgNoise(n, 12345));
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    sine[i] = 0.5 * Math.sin(2 * Math.PI * 440 * t);
    chirp[i] = 0.8 * Math.sin(2 * Math.PI * (100 * t + (6900 * t * t) / 4));
    chord[i] =
      0.3 * (Math.sin(2 * Math.PI * 261.63 * t) + Math.sin(2 * Math.PI * 392 * t)) + 0.05 * noise[i]!;
  }
  const burst = Float32Array.from(lcgNoise(20000, 777)).map((v, i) => 0.5 * Math.exp(-3 * (i / SR)) * v);
  const long = new Float32Array(40000);
  long.set(chord);
  long.fill(0.9, n);
  const quiet = sine.map((v) => v * 1e-6); // near amin: exercises the dB floor
  return [sine, chirp, chord, noise, burst, new Float32Array(n), long, new Float32Array(0), quiet];
}

/** Per-clip TypeScript features, concatenated. */
function jsBatch(extractor: FeatureExtractor, clips: Float32Array[]): Float32Array {
  const out = new Float32Array(clips.length * extractor.outputSize);
  clips.forEach((c, b) => extractor.compute(c, out, b * extractor.outputSize));
  return out;
}

const configs: [string, Partial<FeatureConfig>][] = [
  ["seed", { mode: "seed" }],
  ["native", { mode: "native" }],
  // log2(nFft / 2) odd: the FFT starts with a radix-2 stage
  ["seed, nFft 1024, hop 256, 64 mels", { mode: "seed", nFft: 1024, hopLength: 256, nMels: 64 }],
  [
    "native, nFft 512, 1 s at 8 kHz, 64 columns",
    { mode: "native", nFft: 512, sampleRate: 8000, seconds: 1, fmax: 4000, nMels: 40, size: 64 },
  ],
];

describe("native feature kernel", { skip }, () => {
  const k = kernel!;
  const clips = variedClips();
  const isas = k.featureKernelIsa === "avx2" ? (["baseline", "avx2"] as const) : (["baseline"] as const);

  for (const [name, config] of configs) {
    test(`${name}: equals the TypeScript extractor to 1e-5 (every SIMD build, 1–3 threads)`, () => {
      const extractor = new FeatureExtractor(config);
      const expected = jsBatch(extractor, clips);
      const plan = new k.FeaturePlan(extractor.kernelSpec());
      assert.equal(plan.outputSize, extractor.outputSize);
      for (const isa of isas) {
        for (const threads of [1, 2, 3]) {
          const out = new Float32Array(expected.length);
          assert.equal(k.featuresBatch(plan, clips, out, { threads, isa }), isa);
          const err = maxAbsDiff(out, expected);
          assert.ok(err <= 1e-5, `${isa}, ${threads} threads: max abs diff ${err}`);
        }
      }
    });
  }

  test("silence (and an empty clip) gives all zeros; values in [0, 1]", () => {
    const seed = kernelFeaturesBatch(new FeatureExtractor(), [new Float32Array(32000), new Float32Array(0)]);
    assert.ok(seed !== null && seed.every((v) => v === 0));
    const all = kernelFeaturesBatch(new FeatureExtractor(), clips) as Float32Array;
    assert.ok(all.every((v) => v >= 0 && v <= 1));
  });

  test("golden numpy/skimage arrays (scripts/golden/features.py) to 1e-4", () => {
    const golden = JSON.parse(
      readFileSync(new URL("./golden/features_seed.json", import.meta.url), "utf8"),
    ) as {
      clips: { name: string; features: string }[];
    };
    const byName: Record<string, Float32Array> = {
      sine440: clips[0] as Float32Array,
      short_noise_burst: clips[4] as Float32Array,
    };
    const chosen = golden.clips.filter((c) => byName[c.name] !== undefined);
    assert.equal(chosen.length, 2);
    const out = kernelFeaturesBatch(
      new FeatureExtractor(),
      chosen.map((c) => byName[c.name] as Float32Array),
    ) as Float32Array;
    chosen.forEach((c, b) => {
      const buf = Buffer.from(c.features, "base64");
      const theirs = new Float32Array(buf.length / 4).map((_, i) => buf.readFloatLE(4 * i));
      const err = maxAbsDiff(out.subarray(b * 16384, (b + 1) * 16384), theirs);
      assert.ok(err < 1e-4, `${c.name}: ${err}`);
    });
  });

  test("native mode: refPower scales every clip, peaks report each clip's peak mel power", () => {
    const extractor = new FeatureExtractor({ mode: "native" });
    const some = clips.slice(0, 4);
    const peaks = new Float64Array(some.length);
    const own = kernelFeaturesBatch(extractor, some, { peaks }) as Float32Array;
    some.forEach((c, b) => {
      const p = extractor.peakMelPower(c);
      assert.ok(Math.abs((peaks[b] as number) / p - 1) < 1e-9, `peak ${b}`);
    });
    assert.ok(maxAbsDiff(own, jsBatch(extractor, some)) <= 1e-5);
    const ref = new Float64Array(some.length).fill(peaks[2] as number);
    const scaled = kernelFeaturesBatch(extractor, some, { refPower: ref, threads: 2 }) as Float32Array;
    const expected = new Float32Array(scaled.length);
    some.forEach((c, b) => extractor.compute(c, expected, b * extractor.outputSize, peaks[2]));
    assert.ok(maxAbsDiff(scaled, expected) <= 1e-5);
  });

  test("a packed Float32Array with per-clip lengths equals the array form; async equals sync", async () => {
    const extractor = new FeatureExtractor();
    const plan = new k.FeaturePlan(extractor.kernelSpec());
    const some = [clips[0], clips[4], clips[7], clips[6]] as Float32Array[];
    const packed = new Float32Array(some.length * extractor.length);
    const lengths = new Int32Array(some.length);
    some.forEach((c, b) => {
      const n = Math.min(c.length, extractor.length);
      packed.set(c.subarray(0, n), b * extractor.length);
      packed.fill(0.7, b * extractor.length + n, (b + 1) * extractor.length); // ignored past lengths[b]
      lengths[b] = n;
    });
    const a = new Float32Array(some.length * extractor.outputSize);
    const b = new Float32Array(a.length);
    const c = new Float32Array(a.length);
    k.featuresBatch(plan, some, a, { threads: 1 });
    k.featuresBatch(plan, packed, b, { threads: 2, lengths });
    assert.deepEqual(b, a);
    await k.featuresBatchAsync(plan, some, c, { threads: 2 });
    assert.deepEqual(c, a);
  });

  test("computeFeaturesBatch and FeatureWorkerPool use the kernel; { native: false } is TypeScript", async () => {
    const some = clips.slice(0, 5);
    const viaKernel = computeFeaturesBatch(some, {}, { threads: 2 });
    assert.deepEqual(viaKernel, kernelFeaturesBatch(new FeatureExtractor(), some));
    const js = computeFeaturesBatch(some, {}, { native: false });
    assert.ok(maxAbsDiff(viaKernel, js) <= 1e-5);
    const pool = new FeatureWorkerPool(2);
    try {
      assert.equal(pool.backend, "native");
      assert.deepEqual(await pool.compute(some), viaKernel);
      await assert.rejects(pool.compute(some, { nMels: -1 }), FeatureError);
    } finally {
      await pool.close();
    }
  });

  test("bad arguments throw errors naming the function and the argument", async () => {
    const extractor = new FeatureExtractor();
    const spec = extractor.kernelSpec();
    const plan = new k.FeaturePlan(spec);
    const one = [clips[0] as Float32Array];
    const out = new Float32Array(16384);
    const throwsMsg = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => re.test(e.message));
    throwsMsg(
      () => k.featuresBatch(plan, one, new Float32Array(100)),
      /^featuresBatch: argument 'output' must be a Float32Array of 16384 values, got a Float32Array of 100 values$/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, [new Float64Array(10) as unknown as Float32Array], out),
      /^featuresBatch: clip 0 of argument 'clips' must be a Float32Array, got a Float64Array of 10 values$/,
    );
    throwsMsg(
      () => k.featuresBatch({} as never, one, out),
      /^featuresBatch: argument 'plan' must be a FeaturePlan/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, new Float32Array(32001), out),
      /^featuresBatch: argument 'clips' has 32001 samples, not a multiple of the plan's 32000-sample clip length$/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, new Float32Array(32000), out, { lengths: new Int32Array([32001]) }),
      /^featuresBatch: options.lengths\[0\] is 32001, outside \[0, 32000\]$/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, one, out, { threads: 0 }),
      /^featuresBatch: options.threads must be/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, one, out, { refPower: new Float64Array(1) }),
      /^featuresBatch: options.refPower is only for native mode$/,
    );
    throwsMsg(
      () => k.featuresBatch(plan, one, out, { peaks: new Float64Array(2) }),
      /^featuresBatch: options.peaks must be a Float64Array of 1 values, got a Float64Array of 2 values$/,
    );
    throwsMsg(() => k.featuresBatch(plan, "x" as never, out), /^featuresBatch: argument 'clips' must be/);
    throwsMsg(
      () => k.featuresBatchAsync(plan, one, new Float32Array(1)),
      /^featuresBatchAsync: argument 'output'/,
    );
    throwsMsg(
      () => new k.FeaturePlan({ ...spec, window: new Float64Array(10) }),
      /^FeaturePlan: plan.window must be a Float64Array of 2048 values, got a Float64Array of 10 values$/,
    );
    throwsMsg(
      () => new k.FeaturePlan({ ...spec, nFft: 1000 }),
      /^FeaturePlan: plan.nFft must be a power of two/,
    );
    throwsMsg(
      () => new k.FeaturePlan({ ...spec, frames: 64 }),
      /^FeaturePlan: plan.frames is 64 but 32000 samples with hop 512 give 63 centred frames$/,
    );
    throwsMsg(() => new k.FeaturePlan({ ...spec, mode: "mel" as never }), /^FeaturePlan: plan.mode must be/);
    throwsMsg(
      () => new k.FeaturePlan({ ...spec, melStart: new Int32Array(128).fill(2000) }),
      /^FeaturePlan: mel band 0 .* lies outside 1025 bins/,
    );
    // Through the TypeScript wrapper the same message arrives as a FeatureError.
    assert.throws(
      () => computeFeaturesBatch(one, {}, { threads: 0 }),
      (e: Error) => e instanceof FeatureError && /^featuresBatch: options.threads/.test(e.message),
    );
  });
});
