import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeWav } from "../audio/index.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { sampleFileNames } from "./labels.js";
import { type MixRenderSettings, type MixTask, int16ToUnitFloat, renderMixture } from "./mix-render.js";

/**
 * Renders sample `task.index` and writes `<outputDir>/sample_<index>/{mixed,source1..K}.wav`
 * (16-bit PCM, mono, `sampleRate` Hz), each file atomically. Synchronous so it runs the same in the
 * main thread and in workers.
 */
export function writeMixSample(
  outputDir: string,
  clips: readonly Float32Array[],
  task: MixTask,
  settings: MixRenderSettings,
  sampleRate: number,
): void {
  const rendered = renderMixture(clips, task, settings);
  const dir = join(outputDir, `sample_${task.index}`);
  mkdirSync(dir, { recursive: true });
  const names = sampleFileNames(rendered.sources.length);
  const signals = [rendered.mixed, ...rendered.sources];
  for (let j = 0; j < signals.length; j++) {
    const { bytes } = encodeWav(int16ToUnitFloat(signals[j]!), sampleRate, { encoding: "pcm16", clipMode: "error" });
    writeFileAtomicSync(join(dir, names[j]!), bytes);
  }
}
