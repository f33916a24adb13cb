import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AudioError, type ResampleOptions, resample } from "../src/audio/index.js";
import { MixedRadixFft, fftRadices } from "../src/audio/fft.js";
import { kaiserSincResponse, resampleKernelStatus, resampleLayout } from "../src/audio/resample.js";
import { lcgNoise, maxAbsDiff } from "./feature-helpers.js";

/** LCG noise in [−1, 1) as float32 (scripts/golden/resample.py uses the same generator). */
function noise32(n: number, seed: number): Float32Array {
  return Float32Array.from(lcgNoise(n, seed));
}

function decodeF64(b64: string): Float64Array {
  const bytes = Buffer.from(b64, "base64");
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

interface Golden {
  cases: { from: number; to: number; n: number; seed: number; y: string }[];
  response: { cutoff: number; half: number; f: number[]; h: number[] };
}
const golden = JSON.parse(readFileSync(new URL("./golden/resample.json", import.meta.url), "utf8")) as Golden;

/**
 * Both paths round to float32 (half an ulp of 1.76, the largest output here, is 6e-8; measured
 * differences from scipy ≤ 6.6e-8); the spectral path also leaves out the filter's stopband past
 * the kept band (|H| < 3e-8). One float32 ulp of values below 2, plus a little.
 */
const TOLERANCE = 1.5e-7;

test("MixedRadixFft equals the DFT summed directly, for sizes using every radix", () => {
  for (const n of [1, 2, 3, 4, 5, 7, 8, 12, 30, 49, 63, 64, 105, 384, 441, 1120, 2 * 3 * 4 * 5 * 7]) {
    const fft = new MixedRadixFft(n);
    const re = lcgNoise(n, n);
    const im = lcgNoise(n, n + 1000);
    const outRe = new Float64Array(n);
    const outIm = new Float64Array(n);
    fft.transform(re, im, outRe, outIm);
    let err = 0;
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        const angle = (-2 * Math.PI * ((j * k) % n)) / n;
        sr += re[j]! * Math.cos(angle) - im[j]! * Math.sin(angle);
        si += re[j]! * Math.sin(angle) + im[j]! * Math.cos(angle);
      }
      err = Math.max(err, Math.abs(sr - outRe[k]!), Math.abs(si - outIm[k]!));
    }
    assert.ok(err < 1e-12 * n, `n = ${n}: max error ${err}`);
    assert.deepEqual(re, lcgNoise(n, n), "input left unchanged");
  }
  assert.equal(fftRadices(11 * 16), undefined);
  assert.throws(
    () => new MixedRadixFft(22),
    (e: unknown) => e instanceof AudioError && /2\^a·3\^b·5\^c·7\^d, got 22/.test(e.message),
  );
});

test("kaiserSincResponse (closed form) equals scipy.signal.freqz of the sampled kaiser_best taps", () => {
  const { cutoff, half, f, h } = golden.response;
  const response = kaiserSincResponse({ cutoff, half, beta: 14.769656459379492 }, 0.5);
  for (let i = 0; i < f.length; i++) {
    assert.ok(Math.abs(response(f[i]!) - h[i]!) < 1e-9, `f = ${f[i]}: ${response(f[i]!)} vs ${h[i]}`);
  }
});

/** The native kernel is built in (CI builds the addon; then it must load). */
const kernel = resampleKernelStatus();
test("the native resampling kernel loads with the addon", (t) => {
  if (process.env.STEMSCOPE_NATIVE_RESAMPLE === "0") return t.skip("disabled by STEMSCOPE_NATIVE_RESAMPLE=0");
  assert.ok(kernel.available, `native resampling kernel: ${kernel.reason}`);
});

/** Every way of computing the polyphase sum: the native kernel's SIMD builds and the TypeScript twin. */
const polyphaseWays: { label: string; options: ResampleOptions }[] = [
  { label: "TypeScript twin", options: { method: "polyphase", native: false } },
  ...(kernel.available
    ? (["auto", "avx2", "baseline", "avx512"] as const)
        .filter((isa) => isa !== "avx512" || kernelRuns("avx512"))
        .map((kernelIsa) => ({
          label: `native ${kernelIsa}`,
          options: { method: "polyphase" as const, kernelIsa, threads: 2 },
        }))
    : []),
];

/** Whether this CPU runs the kernel's build `isa` (it refuses one it cannot run). */
function kernelRuns(isa: "avx512"): boolean {
  try {
    resample(new Float32Array(8), 44100, 16000, { method: "polyphase", kernelIsa: isa });
    return true;
  } catch {
    return false;
  }
}

test("every method equals scipy.signal.resample_poly with the same kaiser_best taps", () => {
  for (const c of golden.cases) {
    const x = noise32(c.n, c.seed);
    const want = decodeF64(c.y);
    const ways = [
      { label: "spectral", options: { method: "spectral" as const } },
      { label: "direct", options: { method: "direct" as const } },
      ...polyphaseWays,
    ];
    for (const { label, options } of ways) {
      const y = resample(x, c.from, c.to, options);
      const d = maxAbsDiff(y, want);
      assert.ok(d < TOLERANCE, `${c.from} → ${c.to} Hz, ${label}: max |difference| ${d}`);
    }
  }
});

test("polyphase: the native kernel (every SIMD build, 1 or 2 threads) gives its TypeScript twin's samples bit for bit", () => {
  const ratios: [number, number][] = [
    [44100, 16000],
    [48000, 16000],
    [22050, 16000],
    [8000, 16000],
    [16000, 44100],
    [44100, 48000],
    [44056, 16000], // 2000 phases
  ];
  for (const [from, to] of ratios) {
    for (const n of [1, 2, 37, 1000, 2 * from + 11]) {
      const x = noise32(n, from + 7 * n);
      const want = resample(x, from, to, { method: "polyphase", native: false });
      assert.equal(want.length, Math.ceil((n * to) / from));
      for (const { label, options } of polyphaseWays) {
        for (const threads of [1, 2]) {
          const y = resample(x, from, to, { ...options, threads });
          assert.deepEqual(y, want, `${from} → ${to} Hz, ${n} samples, ${label}, ${threads} threads`);
        }
      }
    }
  }
  if (kernel.available) {
    assert.throws(
      () =>
        resample(new Float32Array(10), 44100, 16000, { method: "polyphase", kernelIsa: "bogus" as "auto" }),
      (e: unknown) =>
        e instanceof TypeError &&
        /^resamplePolyphase: argument 'isa' must be "auto" or a build this CPU runs \(.*baseline\), got "bogus"$/.test(
          e.message,
        ),
    );
  }
  assert.throws(
    () => resample(new Float32Array(10), 44100.5, 16000, { method: "polyphase" }),
    (e: unknown) => e instanceof AudioError && /44100\.5 Hz → 16000 Hz/.test(e.message),
  );
});

test("resampleLayout: outputs computed in pieces (any range, or whole pairs of spectral blocks) are exactly the whole signal's", () => {
  const ways: { label: string; options: ResampleOptions }[] = [
    { label: "auto", options: {} },
    { label: "TypeScript auto", options: { native: false } },
    { label: "spectral", options: { method: "spectral" } },
    { label: "polyphase twin", options: { method: "polyphase", native: false } },
    { label: "polyphase", options: { method: "polyphase" } },
  ];
  for (const [from, to] of [
    [44100, 16000],
    [48000, 16000],
    [16000, 22050],
  ] as [number, number][]) {
    const n = 3 * from + 17;
    const x = noise32(n, 5);
    for (const { label, options } of ways) {
      const whole = resample(x, from, to, options);
      const layout = resampleLayout(from, to, n, options);
      assert.equal(layout.outputLength, whole.length);
      const granule = layout.granule;
      assert.ok(granule > 0, `${label}: ${from} → ${to} splits`);
      // chunks of 1, 2 and 3 granules in turn, each from just the input it reads
      let o0 = 0;
      for (let k = 1; o0 < whole.length; k = (k % 3) + 1) {
        const o1 = Math.min(whole.length, o0 + k * (granule === 1 ? 777 : granule));
        const [s, e] = layout.inputSpan(o0, o1);
        const y = layout.outputs(x.slice(s, e), s, o0, o1);
        assert.deepEqual(y, whole.subarray(o0, o1), `${label}: ${from} → ${to}, outputs ${o0}…${o1}`);
        o0 = o1;
      }
    }
  }
  if (kernel.available) assert.equal(resampleLayout(44100, 16000, 44100 * 60).granule, 1);
  assert.ok(resampleLayout(44100, 16000, 44100 * 60, { native: false }).granule > 1, "spectral pairs");
  assert.equal(resampleLayout(44100.5, 16000, 1000).granule, 0);
  assert.throws(
    () => resampleLayout(44100.5, 16000, 1000).outputs(new Float32Array(10), 0, 0, 10),
    (e: unknown) => e instanceof RangeError && /from the whole signal at once/.test(e.message),
  );
});

test("stopband of every path: a sweep from 8.4 to 22 kHz at 44.1 kHz comes out more than 120 dB down at 16 kHz", () => {
  const rate = 44100;
  const x = new Float32Array(rate); // 1 s linear sweep
  for (let i = 0; i < rate; i++) {
    const t = i / rate;
    x[i] = 0.5 * Math.sin(2 * Math.PI * (8400 * t + ((22000 - 8400) * t * t) / 2));
  }
  const rms = (v: Float32Array, from = 0, to = v.length): number => {
    let ss = 0;
    for (let i = from; i < to; i++) ss += v[i]! * v[i]!;
    return Math.sqrt(ss / (to - from));
  };
  const ways = [
    { label: "auto", options: {} },
    { label: "spectral", options: { method: "spectral" as const } },
    ...polyphaseWays,
  ];
  for (const { label, options } of ways) {
    const y = resample(x, rate, 16000, options);
    const attenuation = 20 * Math.log10(rms(y, 500, y.length - 500) / rms(x));
    assert.ok(attenuation < -120, `${label}: aliasing only ${attenuation.toFixed(1)} dB down`);
  }
});

test("spectral and direct paths agree at every common ratio, on long signals and at block edges", () => {
  const ratios: [number, number][] = [
    [44100, 16000],
    [48000, 16000],
    [22050, 16000],
    [32000, 16000],
    [96000, 16000],
    [8000, 16000],
    [16000, 44100],
    [11025, 16000],
    [44100, 48000],
  ];
  for (const [from, to] of ratios) {
    for (const n of [1, 2, 37, 1000, 3 * from + 11]) {
      const x = noise32(n, from + n);
      const spectral = resample(x, from, to, { method: "spectral" });
      const direct = resample(x, from, to, { method: "direct" });
      assert.equal(spectral.length, Math.ceil((n * to) / from));
      const d = maxAbsDiff(spectral, direct);
      assert.ok(d < TOLERANCE, `${from} → ${to} Hz, ${n} samples: max |difference| ${d}`);
    }
  }
});

test("auto takes the native polyphase kernel (else the spectral path) for kaiser_best and keeps the β = 10 half-band decimator direct", () => {
  const x = noise32(44100 * 2, 9);
  assert.deepEqual(
    resample(x, 44100, 16000),
    resample(x, 44100, 16000, { method: kernel.available ? "polyphase" : "spectral" }),
  );
  assert.equal(resampleLayout(44100, 16000, x.length).granule === 1, kernel.available);
  assert.deepEqual(
    resample(x, 44100, 16000, { native: false }),
    resample(x, 44100, 16000, { method: "spectral" }),
  );
  const halfBand = { zeroCrossings: 24, rolloff: 1, beta: 10 };
  assert.deepEqual(
    resample(x, 32000, 16000, halfBand),
    resample(x, 32000, 16000, { ...halfBand, method: "direct" }),
  );
});

test("ratios the spectral path cannot take: direct path, and a clear error when it is forced", () => {
  const rate = 44056; // 44056 / 16000 = 5507 / 2000, and 5507 is prime
  const x = new Float32Array(rate);
  for (let i = 0; i < rate; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate);
  assert.throws(
    () => resample(x, rate, 16000, { method: "spectral" }),
    (e: unknown) =>
      e instanceof AudioError &&
      /44056 Hz → 16000 Hz/.test(e.message) &&
      /prime factor above 7/.test(e.message),
  );
  // Rational with 2000 phases (coefficient table) and a non-integer rate (coefficients per sample):
  // a 1 kHz tone keeps its amplitude.
  for (const from of [rate, 44100.5]) {
    const y = resample(x, from, 16000);
    let peak = 0;
    for (let i = 2000; i < y.length - 2000; i++) peak = Math.max(peak, Math.abs(y[i]!));
    assert.ok(Math.abs(peak - 0.5) < 1e-3, `${from} Hz: peak ${peak}`);
  }
  assert.throws(
    () => resample(x, 44100, 16000, { rolloff: 1.5 }),
    (e: unknown) => e instanceof AudioError && /0 < rolloff ≤ 1/.test(e.message),
  );
});
