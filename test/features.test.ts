import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  ComplexFft,
  FeatureError,
  FeatureExtractor,
  FeatureWorkerPool,
  RealFft,
  computeFeatures,
  computeFeaturesBatch,
  dbToPower,
  decodeNpy,
  effectiveHop,
  encodeNpy,
  frameCount,
  hannWindow,
  hzToMel,
  istft,
  melFilterbank,
  melFrequencies,
  melPseudoInverse,
  melToHz,
  nativeFeatures,
  nativeToMelPower,
  powerToDb,
  resizeBilinear,
  resolveFeatureConfig,
  seedFeatures,
  stft,
} from "../src/features/index.js";
import { lcgNoise, maxAbsDiff } from "./feature-helpers.js";

const SR = 16000;

/** The golden clips of scripts/golden/features.py, generated the same way (float64 → float32). */
function goldenSignals(): Record<string, Float32Array> {
  const n = 2 * SR;
  const sine = new Float32Array(n);
  const chirp = new Float32Array(n);
  const chord = new Float32Array(n);
  const noise = lcgNoise(n, 12345);
  for (let i = 0; i < n; i++) {
    const t = i / SR;
    sine[i] = 0.5 * Math.sin(2 * Math.PI * 440 * t);
    chirp[i] = 0.8 * Math.sin(2 * Math.PI * (100 * t + ((7000 - 100) * t * t) / (2 * 2)));
    chord[i] =
      0.3 *
        (Math.sin(2 * Math.PI * 261.63 * t) +
          Math.sin(2 * Math.PI * 329.63 * t) +
          Math.sin(2 * Math.PI * 392 * t)) +
      0.05 * (noise[i] as number);
  }
  const m = 20000;
  const burst = new Float32Array(m);
  const bn = lcgNoise(m, 777);
  for (let i = 0; i < m; i++) burst[i] = 0.5 * Math.exp(-3 * (i / SR)) * (bn[i] as number);
  return { sine440: sine, chirp100to7000: chirp, chord_plus_noise: chord, short_noise_burst: burst };
}

function decodeF32(b64: string): Float32Array {
  const buf = Buffer.from(b64, "base64");
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(4 * i);
  return out;
}

describe("mel filterbank", () => {
  test("matches published librosa.filters.mel(sr=22050, n_fft=2048) entries", () => {
    // Values quoted by the mel_filter crate's docs (docs.rs/mel_filter, fn mel) from librosa, float64;
    // librosa's own docs print melfb[0, 1] as 0.016. Ours is float32, as librosa's default dtype.
    const fb = melFilterbank({ sampleRate: 22050, nFft: 2048, nMels: 128 });
    assert.equal(fb.length, 128 * 1025);
    const row0 = [
      0, 0.016182853208219942, 0.032365706416439884, 0.028990088037379964, 0.012807234829160026, 0,
    ];
    const row1 = [
      0, 0, 0, 0.009779235793639925, 0.025962089001859864, 0.035393705451959974, 0.01921085224374004,
      0.003027999035520103, 0,
    ];
    row0.forEach((v, k) =>
      assert.ok(Math.abs((fb[k] as number) - v) < 1e-8, `fb[0, ${k}] = ${fb[k]}, librosa ${v}`),
    );
    row1.forEach((v, k) =>
      assert.ok(Math.abs((fb[1025 + k] as number) - v) < 1e-8, `fb[1, ${k}] = ${fb[1025 + k]}, librosa ${v}`),
    );
  });
  test("Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), log above, invertible", () => {
    assert.equal(hzToMel(0), 0);
    assert.ok(Math.abs(hzToMel(200 / 3) - 1) < 1e-12);
    assert.ok(Math.abs(hzToMel(1000) - 15) < 1e-12);
    assert.ok(Math.abs(hzToMel(6400) - 42) < 1e-12); // 15 + ln(6.4) / (ln(6.4) / 27)
    for (const f of [0, 50, 999, 1000, 1001, 4321, 8000, 22050])
      assert.ok(Math.abs(melToHz(hzToMel(f)) - f) < 1e-9 * Math.max(1, f));
    const mf = melFrequencies(130, 0, 8000);
    assert.equal(mf[0], 0);
    assert.ok(Math.abs((mf[129] as number) - 8000) < 1e-9);
  });
  test("triangles peak at the mel centres and have unit area in Hz (Slaney norm)", () => {
    // A fine FFT grid so the triangles are well sampled.
    const sr = 16000;
    const nFft = 1 << 15;
    const nMels = 40;
    const nBins = nFft / 2 + 1;
    const fb = melFilterbank({ sampleRate: sr, nFft, nMels, fmin: 0, fmax: 8000 });
    const centres = melFrequencies(nMels + 2, 0, 8000);
    const binHz = sr / nFft;
    for (let m = 0; m < nMels; m++) {
      let best = 0;
      let area = 0;
      for (let k = 0; k < nBins; k++) {
        const w = fb[m * nBins + k] as number;
        area += w * binHz;
        if (w > (fb[m * nBins + best] as number)) best = k;
      }
      const f0 = centres[m] as number;
      const f1 = centres[m + 1] as number;
      const f2 = centres[m + 2] as number;
      assert.ok(
        Math.abs(best * binHz - f1) <= binHz,
        `band ${m} peaks at ${best * binHz} Hz, centre ${f1} Hz`,
      );
      const peak = 2 / (f2 - f0);
      assert.ok(Math.abs((fb[m * nBins + best] as number) - peak) / peak < 0.01);
      assert.ok(Math.abs(area - 1) < 2e-3, `band ${m} area ${area}`);
      // zero outside (f0, f2)
      assert.equal(fb[m * nBins + Math.floor(f0 / binHz)], 0);
      assert.equal(fb[m * nBins + Math.ceil(f2 / binHz)], 0);
    }
  });
  test("pseudo-inverse: fb · pinv = I", () => {
    const nMels = 128;
    const nBins = 1025;
    const fb = melFilterbank({ sampleRate: 16000, nFft: 2048, nMels });
    const pinv = melPseudoInverse(fb, nMels, nBins);
    let err = 0;
    for (let a = 0; a < nMels; a++) {
      for (let b = 0; b < nMels; b++) {
        let s = 0;
        for (let k = 0; k < nBins; k++) s += (fb[a * nBins + k] as number) * (pinv[k * nMels + b] as number);
        err = Math.max(err, Math.abs(s - (a === b ? 1 : 0)));
      }
    }
    assert.ok(err < 1e-3, `max |fb·pinv − I| = ${err}`);
  });
});

describe("FFT and STFT", () => {
  test("complex and real FFT match a direct DFT", () => {
    for (const n of [2, 4, 8, 16, 32, 64]) {
      const re = Float64Array.from(lcgNoise(n, n));
      const im = Float64Array.from(lcgNoise(n, n + 1));
      const r0 = Float64Array.from(re);
      const i0 = Float64Array.from(im);
      new ComplexFft(n).transform(re, im);
      for (let k = 0; k < n; k++) {
        let sr = 0;
        let si = 0;
        for (let m = 0; m < n; m++) {
          const a = (-2 * Math.PI * k * m) / n;
          sr += (r0[m] as number) * Math.cos(a) - (i0[m] as number) * Math.sin(a);
          si += (r0[m] as number) * Math.sin(a) + (i0[m] as number) * Math.cos(a);
        }
        assert.ok(
          Math.abs(sr - (re[k] as number)) < 1e-10 && Math.abs(si - (im[k] as number)) < 1e-10,
          `n=${n} k=${k}`,
        );
      }
    }
    for (const n of [4, 8, 32, 256]) {
      const x = lcgNoise(n, 99);
      const fft = new RealFft(n);
      const re = new Float64Array(n / 2 + 1);
      const im = new Float64Array(n / 2 + 1);
      fft.forward(x, re, im);
      for (let k = 0; k <= n / 2; k++) {
        let sr = 0;
        let si = 0;
        for (let m = 0; m < n; m++) {
          sr += (x[m] as number) * Math.cos((-2 * Math.PI * k * m) / n);
          si += (x[m] as number) * Math.sin((-2 * Math.PI * k * m) / n);
        }
        assert.ok(
          Math.abs(sr - (re[k] as number)) < 1e-9 && Math.abs(si - (im[k] as number)) < 1e-9,
          `real n=${n} k=${k}`,
        );
      }
      const back = new Float64Array(n);
      fft.inverse(re, im, back);
      assert.ok(maxAbsDiff(back, x) < 1e-12);
    }
  });
  test("STFT of a bin-centred sine: |X| = A·N/4 at the bin, A·N/8 beside it (periodic Hann)", () => {
    const nFft = 1024;
    const hop = 256;
    const k0 = 64;
    const amp = 0.7;
    const x = new Float32Array(8192);
    for (let i = 0; i < x.length; i++) x[i] = amp * Math.cos((2 * Math.PI * k0 * i) / nFft);
    const spec = stft(x, { nFft, hopLength: hop });
    assert.equal(spec.nBins, 513);
    assert.equal(spec.nFrames, 1 + Math.floor(8192 / hop));
    const t = 10; // an interior frame
    const mag = (k: number) =>
      Math.hypot(spec.re[k * spec.nFrames + t] as number, spec.im[k * spec.nFrames + t] as number);
    assert.ok(Math.abs(mag(k0) - (amp * nFft) / 4) < 1e-3);
    assert.ok(Math.abs(mag(k0 - 1) - (amp * nFft) / 8) < 1e-3);
    assert.ok(Math.abs(mag(k0 + 1) - (amp * nFft) / 8) < 1e-3);
    for (const k of [0, 10, k0 - 2, k0 + 2, 300, 512]) assert.ok(mag(k) < 1e-3, `bin ${k}: ${mag(k)}`);
  });
  test("STFT of an impulse: X[k, t] = w[j] · e^{-2πikj/N}, j = position inside the centred frame", () => {
    const nFft = 512;
    const hop = 128;
    const x = new Float32Array(2000);
    const n0 = 700;
    x[n0] = 1;
    const spec = stft(x, { nFft, hopLength: hop });
    const w = hannWindow(nFft);
    for (let t = 0; t < spec.nFrames; t++) {
      const j = n0 - (t * hop - nFft / 2);
      for (const k of [0, 1, 17, 100, 256]) {
        const inFrame = j >= 0 && j < nFft;
        const wj = inFrame ? (w[j] as number) : 0;
        const er = wj * Math.cos((-2 * Math.PI * k * j) / nFft);
        const ei = wj * Math.sin((-2 * Math.PI * k * j) / nFft);
        assert.ok(Math.abs((spec.re[k * spec.nFrames + t] as number) - er) < 1e-6);
        assert.ok(Math.abs((spec.im[k * spec.nFrames + t] as number) - ei) < 1e-6);
      }
    }
  });
  test("istft(stft(x)) = x to 1e-5 for several hops and both padding modes", () => {
    const x = Float32Array.from(lcgNoise(16000, 5), (v) => 0.9 * v);
    for (const [nFft, hop] of [
      [2048, 512],
      [2048, 251],
      [1024, 256],
      [512, 100],
      [256, 256 / 2],
    ] as const) {
      for (const padMode of ["constant", "reflect"] as const) {
        const spec = stft(x, { nFft, hopLength: hop, padMode });
        const y = istft(spec, { nFft, hopLength: hop, length: x.length });
        assert.equal(y.length, x.length);
        const err = maxAbsDiff(x, y);
        assert.ok(err < 1e-5, `nFft ${nFft} hop ${hop} ${padMode}: max error ${err}`);
      }
    }
    assert.equal(frameCount(32000, 2048, 512), 63);
    assert.throws(() => stft(x, { nFft: 1000 }), FeatureError);
  });
});

describe("power_to_db / db_to_power", () => {
  test("librosa semantics: ref, amin, top_db", () => {
    const p = new Float32Array([1, 10, 100, 0, 1e-12]);
    assert.deepEqual([...powerToDb(p, { topDb: null })], [0, 10, 20, -100, -100]);
    assert.deepEqual([...powerToDb(p, { ref: "max", topDb: null })], [-20, -10, 0, -120, -120]);
    assert.deepEqual([...powerToDb(p, { ref: "max", topDb: 80 })], [-20, -10, 0, -80, -80]);
    const back = dbToPower(powerToDb(new Float32Array([0.5, 2, 3e-4]), { topDb: null }));
    assert.ok(maxAbsDiff(back, [0.5, 2, 3e-4]) < 1e-6);
  });
});

describe("seed pipeline", () => {
  const golden = JSON.parse(
    readFileSync(new URL("./golden/features_seed.json", import.meta.url), "utf8"),
  ) as {
    config: Record<string, number>;
    clips: {
      name: string;
      length: number;
      shape: number[];
      features: string;
      melPower?: string;
      melPowerShape?: number[];
    }[];
  };
  const signals = goldenSignals();
  test("golden arrays from numpy/scipy/skimage (scripts/golden/features.py): max abs error < 1e-4", () => {
    assert.equal(golden.clips.length, 4);
    for (const clip of golden.clips) {
      const x = signals[clip.name];
      assert.ok(x !== undefined, clip.name);
      assert.equal(x.length, clip.length);
      const ours = seedFeatures(x);
      const theirs = decodeF32(clip.features);
      assert.deepEqual(clip.shape, [128, 128]);
      const err = maxAbsDiff(ours, theirs);
      assert.ok(err < 1e-4, `${clip.name}: max abs error ${err}`);
    }
  });
  test("mel power spectrogram matches librosa.feature.melspectrogram (relative 1e-5)", () => {
    const clip = golden.clips.find((c) => c.melPower !== undefined);
    assert.ok(clip?.melPower !== undefined);
    assert.deepEqual(clip.melPowerShape, [128, 63]);
    const theirs = decodeF32(clip.melPower);
    const ours = new FeatureExtractor({ mode: "seed" }).melSpectrogram(signals[clip.name] as Float32Array);
    let peak = 0;
    for (const v of theirs) peak = Math.max(peak, v);
    for (let i = 0; i < ours.length; i++) {
      const rel =
        Math.abs((ours[i] as number) - (theirs[i] as number)) / ((theirs[i] as number) + 1e-9 * peak);
      assert.ok(rel < 1e-5, `cell ${i}: ${ours[i]} vs ${theirs[i]}`);
    }
  });
  test("shape, range, silence, fix_length trimming, batch = single", () => {
    const x = signals.chord_plus_noise as Float32Array;
    const f = seedFeatures(x);
    assert.equal(f.length, 128 * 128);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of f) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= 0 && hi <= 1 && hi > 0.99, `range [${lo}, ${hi}]`);
    assert.ok(
      seedFeatures(new Float32Array(32000)).every((v) => v === 0),
      "silence gives all zeros",
    );
    assert.ok(seedFeatures(new Float32Array(0)).every((v) => v === 0));
    const longer = new Float32Array(40000);
    longer.set(x);
    longer.fill(0.9, 32000);
    assert.deepEqual(seedFeatures(longer), f);
    const clips = [x, signals.sine440 as Float32Array, signals.short_noise_burst as Float32Array];
    const batch = computeFeaturesBatch(clips); // the native kernel when the addon is built: equal to ~1e-7
    clips.forEach((c, b) =>
      assert.ok(maxAbsDiff(batch.subarray(b * 16384, (b + 1) * 16384), seedFeatures(c)) < 1e-6),
    );
    assert.deepEqual(computeFeaturesBatch(clips, {}, { native: false }).subarray(0, 16384), f);
    assert.deepEqual(computeFeatures(x), f);
  });
  test("resizeBilinear: identity when sizes match, half-pixel centres and mirror edges", () => {
    const img = new Float32Array([1, 2, 3, 4, 5, 6]);
    assert.deepEqual(resizeBilinear(img, 2, 3, 2, 3), img);
    // one row [0, 1] → 4 columns: x = (j + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25; mirror: x[−1] = x[1], x[2] = x[0]
    assert.deepEqual([...resizeBilinear(new Float32Array([0, 1]), 1, 2, 1, 4)], [0.25, 0.25, 0.75, 0.75]);
  });
  test("worker pool gives the same features as the single-thread batch", async () => {
    const clips = Object.values(signals);
    const js = { native: false }; // TypeScript on worker threads (the native kernel: features-kernel.test.ts)
    const pool = new FeatureWorkerPool(2, js);
    try {
      assert.equal(pool.backend, "workers");
      const par = await pool.compute(clips);
      assert.deepEqual(par, computeFeaturesBatch(clips, {}, js));
      const nat = await pool.compute(clips.slice(0, 2), { mode: "native" });
      assert.deepEqual(nat, computeFeaturesBatch(clips.slice(0, 2), { mode: "native" }, js));
      await assert.rejects(pool.compute(clips, { nMels: -1 }), FeatureError);
    } finally {
      await pool.close();
    }
  });
});

describe("native mode", () => {
  test("hop 251 gives exactly 128 frames for 2 s at 16 kHz; output [128, 128] in [0, 1]", () => {
    const config = resolveFeatureConfig({ mode: "native" });
    assert.equal(effectiveHop(config), 251);
    assert.equal(frameCount(32000, 2048, 251), 128);
    const f = computeFeatures(goldenSignals().chirp100to7000 as Float32Array, { mode: "native" });
    assert.equal(f.length, 128 * 128);
    assert.ok(f.every((v) => v >= 0 && v <= 1));
    assert.equal(Math.max(...f), 1);
  });
  test("sources are scaled relative to the mixture, and the map inverts", () => {
    const n = 32000;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / SR);
      b[i] = 0.05 * Math.sin((2 * Math.PI * 3000 * i) / SR);
    }
    const mix = a.map((v, i) => v + (b[i] as number));
    const b10 = b.map((v) => 10 * v);
    const nf = nativeFeatures(mix, [a, b, b10]);
    assert.equal(nf.sources.length, 3);
    const peak = (x: Float32Array) => x.reduce((m, v) => Math.max(m, v), 0);
    assert.ok(Math.abs(peak(nf.mixture) - 1) < 1e-6);
    assert.ok(Math.abs(peak(nf.sources[0] as Float32Array) - 1) < 0.01); // a dominates the mixture
    // same reference for every source: 20 dB louder = 20/80 higher, cell by cell
    const lo = nf.sources[1] as Float32Array;
    const hi = nf.sources[2] as Float32Array;
    for (let i = 0; i < lo.length; i++) {
      if ((lo[i] as number) > 0 && (hi[i] as number) < 1)
        assert.ok(Math.abs((hi[i] as number) - (lo[i] as number) - 0.25) < 1e-4);
    }
    assert.ok(peak(lo) < 0.8, "the quiet source stays below the mixture's peak");
    // values ↔ mel power
    const extractor = new FeatureExtractor({ mode: "native" });
    const melA = extractor.melSpectrogram(a);
    const backA = nativeToMelPower(nf.sources[0] as Float32Array, nf.scale);
    for (let i = 0; i < melA.length; i++) {
      if ((nf.sources[0] as Float32Array)[i]! > 0.01) {
        assert.ok(Math.abs((backA[i] as number) / (melA[i] as number) - 1) < 1e-4);
      }
    }
  });
});

describe("config and files", () => {
  test("zod schema holds the defaults and rejects bad values with FeatureError", () => {
    const c = resolveFeatureConfig();
    assert.deepEqual(c, {
      mode: "seed",
      sampleRate: 16000,
      seconds: 2,
      nFft: 2048,
      hopLength: 512,
      nMels: 128,
      fmin: 0,
      fmax: 8000,
      topDb: 80,
      size: 128,
    });
    assert.throws(() => resolveFeatureConfig({ nFft: 1000 }), /nFft must be a power of two/);
    assert.throws(() => resolveFeatureConfig({ fmax: 9000 }), /fmax must be at most sampleRate \/ 2/);
    assert.throws(
      () => new FeatureExtractor({ hopLength: 128 }),
      /seed mode: 251 STFT frames would be shrunk/,
    );
  });
  test(".npy: version 1.0 header padded to 64 bytes, '<f4', C order, parses back", () => {
    const data = Float32Array.from({ length: 128 * 128 }, (_, i) => i / 7);
    const bytes = encodeNpy(data, [128, 128]);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLen = (bytes[8] as number) | ((bytes[9] as number) << 8);
    assert.equal((10 + headerLen) % 64, 0);
    const header = Buffer.from(bytes.subarray(10, 10 + headerLen)).toString("latin1");
    assert.equal(header.trimEnd(), "{'descr': '<f4', 'fortran_order': False, 'shape': (128, 128), }");
    assert.ok(header.endsWith("\n"));
    assert.equal(bytes.length, 10 + headerLen + 4 * data.length);
    const back = decodeNpy(bytes);
    assert.deepEqual(back.shape, [128, 128]);
    assert.deepEqual(back.data, data);
    assert.throws(() => encodeNpy(data, [3, 3]), /shape \[3, 3\] holds 9 values/);
  });
});
