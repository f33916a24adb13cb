import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { removeStaleTempFilesSync, writeFileAtomicSync } from "../../util/atomic.js";
import { sampleFileNames } from "../formats/labels.js";
import { type MixRenderSettings, type MixTask, renderMixture } from "./render.js";

/**
 * A canonical 44-byte-header mono 16-bit PCM WAV of integer samples: byte for byte what
 * `encodeWav(int16ToUnitFloat(q), sampleRate, { encoding: "pcm16" })` writes (test/mix.test.ts checks
 * this), without the float round trip and per-sample checks, which made encoding the slowest step of
 * `mix`. The integers are already exact, so there is nothing to clip or round.
 */
export function encodePcm16Mono(q: Int16Array, sampleRate: number): Uint8Array {
  const dataBytes = q.length * 2;
  const bytes = new Uint8Array(44 + dataBytes);
  const view = new DataView(bytes.buffer);
  const put = (offset: number, text: string): void => {
    for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  put(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  put(8, "WAVE");
  put(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, "data");
  view.setUint32(40, dataBytes, true);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
    bytes.set(new Uint8Array(q.buffer, q.byteOffset, dataBytes), 44); // little-endian host
  } else {
    for (let i = 0; i < q.length; i++) view.setInt16(44 + 2 * i, q[i]!, true);
  }
  return bytes;
}

/**
 * Renders sample `task.index` and writes `<outputDir>/sample_<index>/{mixed,source1..K}.wav`
 * (16-bit PCM, mono, `sampleRate` Hz). Synchronous so it runs the same in the main thread and in
 * workers. Each file is written under a temp name and renamed, so a run killed mid-write leaves no
 * empty or short WAV under a final name; a sample counts as done only once its index is in the run's
 * journal or labels.txt (after this returns), and a resume that renders it again first removes the
 * killed run's temp files.
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
  const existed = mkdirSync(dir, { recursive: true }) === undefined;
  if (existed) removeStaleTempFilesSync(dir);
  const names = sampleFileNames(rendered.sources.length);
  const signals = [rendered.mixed, ...rendered.sources];
  for (let j = 0; j < signals.length; j++) {
    writeFileAtomicSync(join(dir, names[j]!), encodePcm16Mono(signals[j]!, sampleRate));
  }
}
