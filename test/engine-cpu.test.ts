// CPU-specific behaviour: cpuHasNativeBf16 reads the CPU's flags (bf16 training is only fast where the
// CPU computes bfloat16); a libtorch crash on AVX2-only CPUs is routed around without changing results.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuHasNativeBf16, F, manualSeed, rand, tidy } from "../src/engine/index.js";

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

test("a channels-last 1×1 strided conv with few input channels: same values and gradients as NCHW, channels-last out", () => {
  // libtorch 1.13 corrupted the heap in this backward pass on an AVX2-only CPU (2–7 input channels);
  // the addon runs it in NCHW. The result must not depend on that (float32 sums differ in order only).
  manualSeed(3);
  for (const inChannels of [2, 4, 7, 8]) {
    const xData = rand([3, inChannels, 10, 10]);
    const wData = rand([5, inChannels, 1, 1]);
    const run = (format: "contiguous" | "channels_last") =>
      tidy(() => {
        const x = xData.contiguous(format).detach().setRequiresGrad(true);
        const w = wData.contiguous(format).detach().setRequiresGrad(true);
        const y = F.conv2d(x, w, null, { stride: 2 });
        y.mul(y).sum().backward();
        return {
          layout: y.isContiguous(format),
          y: y.contiguous().toFloat32Array(),
          gx: x.grad!.contiguous().toFloat32Array(),
          gw: w.grad!.contiguous().toFloat32Array(),
        };
      });
    const nchw = run("contiguous");
    const nhwc = run("channels_last");
    assert.ok(nhwc.layout, `${inChannels} channels: output is not channels-last`);
    for (const key of ["y", "gx", "gw"] as const) {
      const a = nchw[key];
      const b = nhwc[key];
      assert.equal(a.length, b.length);
      for (let i = 0; i < a.length; i++)
        assert.ok(
          Math.abs(a[i]! - b[i]!) <= 1e-5 * (1 + Math.abs(a[i]!)),
          `${inChannels} channels: ${key}[${i}]`,
        );
    }
    xData.dispose();
    wData.dispose();
  }
});
