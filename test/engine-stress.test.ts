// A fast subset of the engine stress sweep (npm run stress:engine): each configuration runs in its own
// child process with glibc's heap checks on, so a libtorch heap corruption (as the strided 1×1
// channels-last convolution caused on several CPUs) fails the test named after the configuration
// instead of killing the whole run; values and gradients must equal the float64 NCHW reference.
import assert from "node:assert/strict";
import { test } from "node:test";
import { caseName, quickSweep } from "../scripts/stress/engine-cases.js";
import { runInChild } from "../scripts/stress-engine.js";

for (const c of quickSweep()) {
  // The addon's caching allocator (what users run) for every case; libtorch's own allocator too for
  // the strided 1×1 convolutions, where glibc then sees every tensor buffer.
  const allocators =
    c.op === "conv2d" && c.inChannels <= 9 ? (["caching", "default"] as const) : (["caching"] as const);
  for (const allocator of allocators) {
    test(`${caseName(c)} (${allocator} allocator): no crash, equals float64 NCHW`, () => {
      const outcome = runInChild(c, { reps: 2, allocator });
      assert.equal(outcome.status, "ok", outcome.detail);
    });
  }
}
