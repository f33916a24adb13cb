import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeWav } from "../src/audio/index.js";
import { buildMixtures, combinations, planMixtures } from "../src/data/mix/mix.js";
import { cropStart, int16ToUnitFloat, renderMixture } from "../src/data/mix/render.js";
import { encodeWav } from "../src/audio/index.js";
import { encodePcm16Mono } from "../src/data/mix/sample.js";
import { hashTree, makeRawData, readPcm16, tempDir, writeTestWav, tone } from "./data-helpers.js";

const small = { sampleRate: 8000, seconds: 0.25, samplesPerCombination: 6 } as const;

test("combinations follows itertools order", () => {
  assert.deepEqual(combinations(["a", "b", "c", "d"], 2), [
    ["a", "b"],
    ["a", "c"],
    ["a", "d"],
    ["b", "c"],
    ["b", "d"],
    ["c", "d"],
  ]);
  assert.deepEqual(combinations([1, 2, 3], 3), [[1, 2, 3]]);
  assert.equal(
    combinations(
      Array.from({ length: 10 }, (_, i) => i),
      2,
    ).length,
    45,
  );
});

test("int16 → float → encodeWav pcm16 round-trips every 16-bit value exactly", () => {
  const q = new Int16Array(65535);
  for (let i = 0; i < q.length; i++) q[i] = i - 32767;
  const { bytes } = encodeWav(int16ToUnitFloat(q), 8000, { encoding: "pcm16", clipMode: "error" });
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  for (let i = 0; i < q.length; i++) assert.equal(view.getInt16(44 + 2 * i, true), q[i]);
  // mix's fast integer encoder writes exactly the same bytes.
  assert.deepEqual(encodePcm16Mono(q, 8000), bytes);
  assert.deepEqual(
    encodePcm16Mono(q.subarray(1, 4), 16000),
    encodeWav(int16ToUnitFloat(q.subarray(1, 4)), 16000).bytes,
  );
});

test("renderMixture: mixed is exactly the sum of the sources, peak-normalised, never clipped", () => {
  const loud = new Float32Array(100).fill(0.9);
  const other = new Float32Array(300);
  for (let i = 0; i < 300; i++) other[i] = i % 2 === 0 ? 0.8 : -0.8;
  const task = { index: 0, clipIds: [0, 1], offsets: [0.5, 0.99], gainsDb: [0, 6] };
  for (const normalize of ["peak", "limit"] as const) {
    const r = renderMixture([loud, other], task, {
      length: 200,
      balance: "none",
      offset: "random",
      normalize,
      peak: 0.9,
    });
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      assert.equal(r.mixed[i], r.sources[0]![i]! + r.sources[1]![i]!);
      peak = Math.max(peak, Math.abs(r.mixed[i]!), Math.abs(r.sources[0]![i]!), Math.abs(r.sources[1]![i]!));
    }
    assert.ok(Math.abs(peak - Math.round(0.9 * 32767)) <= 1, `peak ${peak}`);
    // Short clip: zero-padded after its 100 samples.
    assert.equal(r.sources[0]![150], 0);
  }
  // The crop start of a 300-sample clip for u = 0.99 is floor(0.99 * 101) = 99.
  assert.equal(cropStart(300, 200, 0.99, "random"), 99);
  assert.equal(cropStart(300, 200, 0.99, "start"), 0);
  assert.equal(cropStart(100, 200, 0.5, "random"), 0);
  // limit mode keeps quiet mixtures as they are.
  const quiet = new Float32Array(200).fill(0.01);
  const r = renderMixture(
    [quiet, quiet],
    { index: 1, clipIds: [0, 1], offsets: [0, 0], gainsDb: [0, 0] },
    { length: 200, balance: "none", offset: "start", normalize: "limit", peak: 0.9 },
  );
  assert.equal(r.scale, 1);
  assert.equal(r.sources[0]![0], Math.round(0.01 * 32767));
  // rms balance: equal RMS before gains.
  const a = new Float32Array(200).fill(0.5);
  const b = new Float32Array(200).fill(0.05);
  const rb = renderMixture(
    [a, b],
    { index: 2, clipIds: [0, 1], offsets: [0, 0], gainsDb: [0, 0] },
    { length: 200, balance: "rms", offset: "start", normalize: "peak", peak: 0.9 },
  );
  assert.equal(rb.sources[0]![10], rb.sources[1]![10]);
});

test("mix: C(n,2) × N samples, labels.txt format, exact sums, 16-bit mono files", async () => {
  const root = tempDir();
  makeRawData(join(root, "raw"), ["violin", "cello", "piano"], 4);
  // A clip at another rate and in stereo is resampled and mixed down.
  writeTestWav(
    join(root, "raw", "piano", "stereo16k.wav"),
    [tone(0.5, 16000, 300), tone(0.5, 16000, 500)],
    16000,
  );
  const outputDir = `${root}/train_data/`;
  const result = await buildMixtures(
    { ...small, dataDir: join(root, "raw"), outputDir, seed: 3 },
    { jobs: 1 },
  );
  assert.deepEqual(result.classes, ["cello", "piano", "violin"]);
  assert.deepEqual(result.combinations, [
    ["cello", "piano"],
    ["cello", "violin"],
    ["piano", "violin"],
  ]);
  assert.equal(result.samples, 3 * 6);
  assert.equal(result.written, 18);
  const lines = readFileSync(join(outputDir, "labels.txt"), "utf8").split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, 18);
  assert.equal(
    lines[0],
    `${root}/train_data/sample_0/mixed.wav ${root}/train_data/sample_0/source1.wav ${root}/train_data/sample_0/source2.wav cello piano`,
  );
  assert.ok(lines[17]!.endsWith("sample_17/source2.wav piano violin"));
  for (let i = 0; i < 18; i++) {
    const fields = lines[i]!.split(" ");
    assert.equal(fields.length, 5);
    const dir = join(outputDir, `sample_${i}`);
    const mixed = readPcm16(join(dir, "mixed.wav"));
    const s1 = readPcm16(join(dir, "source1.wav"));
    const s2 = readPcm16(join(dir, "source2.wav"));
    assert.equal(mixed.length, 2000);
    let peak = 0;
    for (let k = 0; k < mixed.length; k++) {
      assert.equal(mixed[k], s1[k]! + s2[k]!);
      peak = Math.max(peak, Math.abs(mixed[k]!), Math.abs(s1[k]!), Math.abs(s2[k]!));
    }
    assert.ok(peak > 29000 && peak < 32767, `peak ${peak}`);
    const decoded = decodeWav(readFileSync(join(dir, "mixed.wav")), "mixed.wav");
    assert.equal(decoded.sampleRate, 8000);
    assert.equal(decoded.channels.length, 1);
  }
  assert.ok(!existsSync(join(outputDir, ".mix-progress")));
  const mixJson = JSON.parse(readFileSync(join(outputDir, "mix.json"), "utf8"));
  assert.equal(mixJson.format, "stemscope-mix");
  assert.equal(mixJson.config.seed, 3);
  // The seed's relative spelling is kept as given.
  const plan = planMixtures({ ...small, dataDir: join(root, "raw"), outputDir: "./train_data" });
  assert.equal(plan[0]!.dir, "./train_data/sample_0");
});

test("mix: the same seed gives identical bytes for any --jobs; another seed differs", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b", "c"], 3);
  const config = { ...small, samplesPerCombination: 40, dataDir: raw, seed: 11 };
  await buildMixtures({ ...config, outputDir: join(root, "one") }, { jobs: 1 });
  await buildMixtures({ ...config, outputDir: join(root, "two") }, { jobs: 2 });
  await buildMixtures({ ...config, outputDir: join(root, "other"), seed: 12 }, { jobs: 1 });
  const one = hashTree(join(root, "one"));
  const two = hashTree(join(root, "two"));
  const other = hashTree(join(root, "other"));
  const strip = (m: Map<string, string>) => new Map([...m].filter(([k]) => k.endsWith(".wav")));
  assert.equal(one.size, 3 * 40 * 3 + 3);
  assert.deepEqual(strip(one), strip(two));
  assert.notDeepEqual(strip(one), strip(other));
});

test("mix: split by clip never shares a clip between train and test", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b", "c"], 6);
  const config = {
    ...small,
    samplesPerCombination: 30,
    dataDir: raw,
    outputDir: join(root, "out"),
    testFraction: 0.3,
  };
  const plan = planMixtures(config);
  const trainClips = new Set(plan.filter((s) => !s.test).flatMap((s) => s.clips));
  const testClips = new Set(plan.filter((s) => s.test).flatMap((s) => s.clips));
  assert.ok(testClips.size > 0 && trainClips.size > 0);
  for (const c of testClips) assert.ok(!trainClips.has(c), `${c} is in both`);
  assert.equal(plan.filter((s) => s.test).length, 3 * 9);
  const result = await buildMixtures(config, { jobs: 1 });
  const split = JSON.parse(readFileSync(result.splitPath, "utf8"));
  assert.equal(split.version, 1);
  assert.equal(split.splitBy, "clip");
  assert.equal(split.train.length + split.test.length, 90);
  assert.deepEqual(
    split.test,
    plan.filter((s) => s.test).map((s) => s.dir),
  );
  // The leaky seed split is still available, with a warning.
  const warnings: string[] = [];
  const leaky = planMixtures({ ...config, splitBy: "random" }, { onWarning: (m) => warnings.push(m) });
  assert.match(warnings[0] ?? "", /same source clips appear on both sides/);
  assert.equal(leaky.filter((s) => s.test).length, 27);
});

test("mix: split by soundfont holds out whole soundfonts; errors without a manifest", () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b"], 6);
  const config = {
    ...small,
    samplesPerCombination: 20,
    dataDir: raw,
    outputDir: join(root, "out"),
    splitBy: "soundfont" as const,
    testFraction: 0.34,
  };
  assert.throws(
    () => planMixtures(config),
    /manifest\.jsonl: not found; `splitBy` soundfont needs the manifest/,
  );
  const sfOf = (i: number) => ["fluidr3", "musescore", "timgm6mb"][i % 3]!;
  const lines = ["a", "b"].flatMap((cls) =>
    Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({
        file: `${cls}/clip${i}.wav`,
        class: cls,
        soundfont: sfOf(i),
        program: 0,
        notes: [],
        velocity: 100,
        effects: {},
        seed: "x",
      }),
    ),
  );
  writeFileSync(join(raw, "manifest.jsonl"), `${lines.join("\n")}\n`);
  const plan = planMixtures(config);
  const sfOfClip = (key: string) => sfOf(Number(/clip(\d+)/.exec(key)![1]));
  const testSf = new Set(plan.filter((s) => s.test).flatMap((s) => s.clips.map(sfOfClip)));
  const trainSf = new Set(plan.filter((s) => !s.test).flatMap((s) => s.clips.map(sfOfClip)));
  assert.equal(testSf.size, 1);
  for (const sf of testSf) assert.ok(!trainSf.has(sf));
  // --test-soundfonts names the held-out ones.
  const named = planMixtures({ ...config, testSoundfonts: ["musescore"] });
  assert.deepEqual(
    new Set(named.filter((s) => s.test).flatMap((s) => s.clips.map(sfOfClip))),
    new Set(["musescore"]),
  );
  assert.ok(!named.filter((s) => !s.test).some((s) => s.clips.some((c) => sfOfClip(c) === "musescore")));
  assert.throws(
    () => planMixtures({ ...config, splitBy: "clip", testSoundfonts: ["musescore"] }),
    /`testSoundfonts` needs `splitBy` soundfont/,
  );
  assert.throws(
    () => planMixtures({ ...config, testSoundfonts: ["a320u"] }),
    /`testSoundfonts`: a320u not in .*manifest\.jsonl; its clips come from fluidr3, musescore, timgm6mb/,
  );
  assert.throws(
    () => planMixtures({ ...config, testSoundfonts: ["fluidr3", "musescore", "timgm6mb"] }),
    /holding out all of fluidr3, musescore, timgm6mb leaves nothing to train on/,
  );
  writeFileSync(join(raw, "manifest.jsonl"), `${lines.slice(1).join("\n")}\n`);
  assert.throws(() => planMixtures(config), /has no line for a\/clip0\.wav/);
});

test("mix: --sources 3 writes K sources and K labels", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b", "c", "d"], 3);
  const result = await buildMixtures(
    { ...small, samplesPerCombination: 2, sources: 3, dataDir: raw, outputDir: join(root, "out") },
    { jobs: 1 },
  );
  assert.equal(result.samples, 4 * 2);
  const line = readFileSync(result.labelsPath, "utf8").split("\n")[0]!.split(" ");
  assert.equal(line.length, 7);
  assert.deepEqual(line.slice(4), ["a", "b", "c"]);
  const dir = join(root, "out", "sample_0");
  const m = readPcm16(join(dir, "mixed.wav"));
  const s = [1, 2, 3].map((j) => readPcm16(join(dir, `source${j}.wav`)));
  for (let k = 0; k < m.length; k++) assert.equal(m[k], s[0]![k]! + s[1]![k]! + s[2]![k]!);
});

test("mix: resume skips finished samples, refuses another config, --overwrite replaces", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b"], 3);
  const out = join(root, "out");
  const config = { ...small, samplesPerCombination: 10, dataDir: raw, outputDir: out };
  await buildMixtures(config, { jobs: 1 });
  const before = hashTree(out);
  // A lost file is re-made; the rest is skipped.
  rmSync(join(out, "sample_4", "source2.wav"));
  let again = await buildMixtures(config, { jobs: 1 });
  assert.equal(again.written, 1);
  assert.equal(again.skipped, 9);
  assert.deepEqual(hashTree(out), before);
  // An interrupted run: no labels.txt yet, a journal of finished samples.
  rmSync(join(out, "labels.txt"));
  rmSync(join(out, "sample_9"), { recursive: true });
  writeFileSync(join(out, ".mix-progress"), "0\n1\n2\n3\n");
  again = await buildMixtures(config, { jobs: 2 });
  assert.equal(again.skipped, 4);
  assert.deepEqual(hashTree(out), before);
  // A mix.json of stemscope 0.1 (version 1: dataDir / outputDir) is the same configuration: all skipped.
  const mixJson = JSON.parse(readFileSync(join(out, "mix.json"), "utf8"));
  assert.equal(mixJson.version, 2);
  const { data, out: written, ...rest } = mixJson.config;
  writeFileSync(
    join(out, "mix.json"),
    JSON.stringify({ ...mixJson, version: 1, config: { dataDir: data, outputDir: written, ...rest } }),
  );
  again = await buildMixtures({ ...small, samplesPerCombination: 10, data: raw, out }, { jobs: 1 });
  assert.equal(again.skipped, 10);
  assert.deepEqual(hashTree(out), before);
  await assert.rejects(buildMixtures({ ...config, seed: 1 }, { jobs: 1 }), (e: Error) => {
    assert.match(
      e.message,
      /already holds mixtures made with a different configuration \(differs in: config\.seed\); use `overwrite`/,
    );
    return true;
  });
  again = await buildMixtures({ ...config, seed: 1, samplesPerCombination: 3 }, { jobs: 1, overwrite: true });
  assert.equal(again.written, 3);
  assert.ok(!existsSync(join(out, "sample_9")));
  // A folder of the seed's (no mix.json) is refused too.
  const seedOut = join(root, "seed");
  mkdirSync(join(seedOut, "sample_0"), { recursive: true });
  await assert.rejects(buildMixtures({ ...config, outputDir: seedOut }, { jobs: 1 }), /without a mix\.json/);
});

test("mix: clear errors for bad inputs", async () => {
  const root = tempDir();
  await assert.rejects(
    buildMixtures({ dataDir: join(root, "nope"), outputDir: join(root, "o") }),
    /nope: folder not found/,
  );
  const raw = makeRawData(join(root, "raw"), ["a"], 2);
  await assert.rejects(
    buildMixtures({ ...small, dataDir: raw, outputDir: join(root, "o") }),
    /found 1 class folder\(s\) \(a\); mixing 2 sources needs at least 2/,
  );
  mkdirSync(join(raw, "empty"));
  await assert.rejects(
    buildMixtures({ ...small, dataDir: raw, outputDir: join(root, "o") }),
    /empty: no \.wav files/,
  );
  rmSync(join(raw, "empty"), { recursive: true });
  makeRawData(raw, ["b"], 1);
  await assert.rejects(
    buildMixtures({ ...small, dataDir: raw, outputDir: join(root, "o") }),
    /b: only 1 clip; `splitBy` clip needs at least 2/,
  );
  await assert.rejects(
    buildMixtures({ ...small, dataDir: raw, outputDir: join(root, "my out") }),
    /contains whitespace/,
  );
  await assert.rejects(
    buildMixtures({ ...small, gainDb: [6, -6], dataDir: raw, outputDir: join(root, "o") }),
    /gainDb: min must be ≤ max/,
  );
  writeFileSync(join(raw, "a", "broken.wav"), "RIFF0000WAVEjunk");
  await assert.rejects(
    buildMixtures(
      { ...small, testFraction: 0, samplesPerCombination: 50, dataDir: raw, outputDir: join(root, "o2") },
      { jobs: 1 },
    ),
    /broken\.wav/,
  );
});

test("mix: a train_data folder given as the raw_data library is recognised and refused", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b"], 2, 8000);
  const trainData = join(root, "train_data");
  await buildMixtures({ data: raw, out: trainData, samplesPerCombination: 3, seconds: 0.5 }, { jobs: 1 });
  await assert.rejects(buildMixtures({ data: trainData, out: join(root, "again") }, { jobs: 1 }), {
    name: "DataError",
    message: `${trainData}: is a train_data folder (labels.txt, mix.json, 3 sample_* folder(s)), made by \`stemscope mix\`, not a raw_data library; \`data\` needs a raw_data folder with one sub-folder of .wav clips per class (train_data is what \`stemscope train\` takes)`,
  });
  assert.ok(!existsSync(join(root, "again", "labels.txt")));
});
