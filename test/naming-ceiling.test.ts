// namingCeiling (src/eval/ceiling.ts): the model's classifier on its separated sources, the clean
// references and the mixture, checked against evaluate() and against an input where all three are one.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeWav } from "../src/audio/index.js";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { liveTensorCount } from "../src/engine/index.js";
import { evaluate, NAMING_INPUTS, namingCeiling } from "../src/eval/index.js";
import { loadModel } from "../src/infer/index.js";
import { type LoadedModelFolder, loadModelFolder } from "../src/model/folder.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-ceiling-"));
const classes = ["bass", "cello", "flute", "organ", "piano", "violin"];
const pitch: Record<string, number> = {
  bass: 65,
  cello: 131,
  flute: 784,
  organ: 262,
  piano: 330,
  violin: 523,
};
let modelDir = "";
let folder: LoadedModelFolder;
let start = 0;

/**
 * A labels.txt dataset of `count` two-source samples (2 s, 16 kHz). `same`: the mixture and both
 * sources are one and the same recording.
 */
function makeDataset(root: string, count: number, same: boolean): void {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const labels = [classes[i % 6]!, classes[(i + 1) % 6]!].sort();
    const s1 = harmonicTone(2, 16000, pitch[labels[0]!]! * (1 + 0.02 * i), 0.3);
    const s2 = same ? s1 : harmonicTone(2, 16000, pitch[labels[1]!]!, 0.2);
    const mixed = same ? s1 : s1.map((v, j) => v + s2[j]!);
    const sample = join(root, `sample_${i}`);
    mkdirSync(sample, { recursive: true });
    writeFileSync(join(sample, "source1.wav"), encodeWav(s1, 16000).bytes);
    writeFileSync(join(sample, "source2.wav"), encodeWav(s2, 16000).bytes);
    writeFileSync(join(sample, "mixed.wav"), encodeWav(mixed, 16000).bytes);
    const d = `./sample_${i}`;
    lines.push(`${d}/mixed.wav ${d}/source1.wav ${d}/source2.wav ${labels.join(" ")}`);
  }
  writeFileSync(join(root, "labels.txt"), `${lines.join("\n")}\n`);
}

before(async () => {
  makeDataset(join(dir, "mixtures"), 12, false);
  makeDataset(join(dir, "same"), 12, true);
  modelDir = await makeModelFolder(join(dir, "model"), { classes, mode: "native", seed: 3 });
  start = liveTensorCount();
  folder = await loadModelFolder(modelDir);
});
after(() => {
  folder.model.dispose();
  assert.equal(liveTensorCount(), start, "tensors leaked");
  rmSync(dir, { recursive: true, force: true });
});

test("namingCeiling: the separated sources name exactly what evaluate() names", async () => {
  const data = readTrainData(join(dir, "mixtures"), { classes });
  const before = liveTensorCount();
  const ceiling = await namingCeiling(folder, data, { subset: "all", batchSize: 4, jobs: 1 });
  assert.equal(liveTensorCount(), before, "tensors leaked");
  assert.equal(ceiling.split, "all");
  assert.equal(ceiling.mixtures, 12);
  assert.equal(ceiling.sources, 2);
  const model = await loadModel(modelDir);
  try {
    const metrics = await evaluate(model, join(dir, "mixtures"), { subset: "all", audio: false });
    assert.equal(ceiling.separated.namedAccuracy, metrics.classification.namedAccuracy);
    assert.equal(ceiling.separated.allNamed, metrics.classification.namedExactMatch);
  } finally {
    model.dispose();
  }
  // Per-class recall weighted by each class's sources (every class is in 4 of the 12 mixtures) gives
  // back the named accuracy.
  for (const input of NAMING_INPUTS) {
    const r = ceiling[input];
    const weighted = classes.reduce((sum, name) => sum + r.perClass[name]! * 4, 0) / 24;
    assert.ok(Math.abs(weighted - r.namedAccuracy) < 1e-12, `${input}: ${weighted} vs ${r.namedAccuracy}`);
    assert.ok(r.allNamed <= r.namedAccuracy + 1e-12);
  }
});

test("namingCeiling: when the mixture and both sources are one recording, references name what the mixture names", async () => {
  const data = readTrainData(join(dir, "same"), { classes });
  const ceiling = await namingCeiling(folder, data, { subset: "all", batchSize: 5, jobs: 1 });
  // Two equal probability rows p: play probabilities 1 − (1 − p)² rank the classes as p itself does.
  assert.deepEqual(ceiling.references, ceiling.mixture);
});

test("namingCeiling: `test` without split.json is an error that says to use all", async () => {
  const data = readTrainData(join(dir, "mixtures"), { classes });
  await assert.rejects(namingCeiling(folder, data, { subset: "test" }), /no split\.json.*`subset` all/);
});
