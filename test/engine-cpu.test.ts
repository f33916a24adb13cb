// CPU-specific behaviour: cpuHasNativeBf16 reads the CPU's flags (bf16 training is only fast where the
// CPU computes bfloat16); a libtorch heap corruption (strided 1×1 channels-last convolutions, CPU-
// dependent channel counts) is routed around without changing results.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cpuHasNativeBf16,
  F,
  manualSeed,
  randn,
  setNumThreads,
  type Tensor,
  tidy,
} from "../src/engine/index.js";

test("cpuHasNativeBf16 finds avx512_bf16 / amx_bf16 (x86) or bf16 (Arm) among the CPU flags", () => {
  const epyc = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n";
  const spr = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n";
  const arm = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n";
  assert.equal(cpuHasNativeBf16(epyc), false);
  assert.equal(cpuHasNativeBf16(spr), true);
  assert.equal(cpuHasNativeBf16(arm), true);
  // "avx512_bf16x" is not the flag, and text without a flags line tells nothing.
  assert.equal(cpuHasNativeBf16("flags\t: avx512_bf16x\n"), false);
  assert.equal(cpuHasNativeBf16("processor\t: 0\n"), null);
  // This machine: a boolean on Linux.
  const here = cpuHasNativeBf16();
  assert.ok(here === null || typeof here === "boolean");
});

test("channels-last strided 1×1 convs (routed around libtorch's faulty kernel) equal float64 NCHW, 1–64 channels", () => {
  // libtorch 1.13 corrupts the heap in this backward pass on 2 threads (which channel counts depends on
  // the CPU); the addon computes it as subsample → stride-1 convolution. Values and gradients must
  // equal libtorch's float64 NCHW convolution (its reference kernel, no oneDNN), and the output stays
  // channels-last.
  setNumThreads(2);
  manualSeed(3);
  const cases: {
    inChannels: number;
    stride: [number, number];
    padding: [number, number];
    size: [number, number];
  }[] = [];
  for (const inChannels of [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64]) {
    cases.push({ inChannels, stride: [2, 2], padding: [0, 0], size: [10, 10] });
  }
  cases.push({ inChannels: 8, stride: [3, 3], padding: [0, 0], size: [11, 10] });
  cases.push({ inChannels: 8, stride: [2, 1], padding: [0, 0], size: [9, 8] });
  cases.push({ inChannels: 5, stride: [2, 2], padding: [1, 1], size: [7, 7] });
  cases.push({ inChannels: 16, stride: [2, 3], padding: [1, 0], size: [10, 13] });
  for (const { inChannels, stride, padding, size } of cases) {
    const name = `${inChannels} channels, stride ${stride}, padding ${padding}, ${size}`;
    const xData = randn([3, inChannels, ...size]);
    const wData = randn([5, inChannels, 1, 1]);
    const bData = randn([5]);
    const run = (reference: boolean) =>
      tidy(() => {
        const prepare = (t: Tensor) =>
          (reference ? t.to("float64") : t.contiguous("channels_last")).detach().setRequiresGrad(true);
        const x = prepare(xData);
        const w = prepare(wData);
        const b = (reference ? bData.to("float64") : bData).detach().setRequiresGrad(true);
        const y = F.conv2d(x, w, b, { stride, padding });
        y.mul(y).sum().backward();
        return {
          channelsLast: y.isContiguous("channels_last"),
          shape: y.shape,
          values: [y, x.grad!, w.grad!, b.grad!].map((t) =>
            Array.from(t.to("float64").contiguous().toArray()),
          ),
        };
      });
    const expected = run(true);
    const got = run(false);
    // (With 1 input channel both layouts have the same strides, and libtorch answers in NCHW.)
    if (inChannels > 1) assert.ok(got.channelsLast, `${name}: output is not channels-last`);
    assert.deepEqual(got.shape, expected.shape, `${name}: output shape`);
    ["y", "grad x", "grad w", "grad b"].forEach((what, k) => {
      const a = expected.values[k]!;
      const b = got.values[k]!;
      assert.equal(a.length, b.length);
      const scale = Math.max(...a.map(Math.abs));
      for (let i = 0; i < a.length; i++) {
        assert.ok(Math.abs(a[i]! - b[i]!) <= 2e-6 * scale, `${name}: ${what}[${i}] ${b[i]} vs ${a[i]}`);
      }
    });
    xData.dispose();
    wData.dispose();
    bData.dispose();
  }
});
