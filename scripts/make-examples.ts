// Writes the example mixtures in examples/: 4-second recordings of two instruments playing together,
// rendered with a seed (2026) that the default model's training data (seed 0) never used.
//   node --import tsx scripts/make-examples.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAudio, writeWav } from "../src/audio/index.js";
import { readManifest, synthesize } from "../src/data/index.js";
import { writeFileAtomic } from "../src/util/atomic.js";

const PAIRS: [string, string][] = [
  ["piano", "violin"],
  ["bass", "flute"],
  ["guitar", "trumpet"],
];

const work = mkdtempSync(join(tmpdir(), "stemscope-examples-"));
try {
  const classes = [...new Set(PAIRS.flat())].sort();
  await synthesize(
    { outDir: work, classes, perClass: 1, seconds: 4, seed: 2026, soundfonts: "all" },
    { jobs: 1 },
  );
  const manifest = readManifest(work) ?? [];
  const expected: Record<string, { instruments: string[]; soundfonts: string[] }> = {};
  for (const pair of PAIRS) {
    const clips = pair.map((name) => manifest.find((entry) => entry.class === name)!);
    const audio = await Promise.all(clips.map((clip) => loadAudio(join(work, clip.file))));
    const length = Math.min(...audio.map((a) => a.samples.length));
    // Equal loudness: scale each source to the same RMS before summing, then peak-normalise to 0.9.
    const rms = audio.map((a) => Math.sqrt(a.samples.reduce((s, x) => s + x * x, 0) / a.samples.length));
    const mixture = new Float32Array(length);
    audio.forEach((a, j) => {
      for (let i = 0; i < length; i++) mixture[i]! += a.samples[i]! * (0.1 / rms[j]!);
    });
    const peak = mixture.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    for (let i = 0; i < length; i++) mixture[i]! *= 0.9 / peak;
    const name = `${pair.join("+")}.wav`;
    await writeWav(join("examples", name), mixture, 16000);
    expected[name] = { instruments: pair, soundfonts: clips.map((c) => c.soundfont) };
    console.log(`examples/${name}: ${pair.join(" + ")} (${clips.map((c) => c.soundfont).join(", ")})`);
  }
  await writeFileAtomic(join("examples", "expected.json"), `${JSON.stringify(expected, null, 2)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
