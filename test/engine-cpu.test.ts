// cpuHasNativeBf16 reads the CPU's flags: bf16 training is only fast where the CPU computes bfloat16.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuHasNativeBf16 } from "../src/engine/index.js";

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
