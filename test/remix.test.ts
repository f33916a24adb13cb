// Training on mixtures drawn afresh from a clip library: the remixer's arithmetic and determinism,
// held-out groups, the clip split, a tiny run end to end with an exact resume, and `mix --groups`.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { buildMixtures, planMixtures } from "../src/data/mix/mix.js";
import { loadClipPool, readPoolClip, Remixer } from "../src/data/mix/remix.js";
import { encodeWav } from "../src/audio/index.js";
import { FeatureConfigSchema } from "../src/features/config.js";
import { readModelConfig } from "../src/model/folder.js";
import { trainFlagsToConfig } from "../src/cli/train.js";
import { RemixFeed } from "../src/train/feed.js";
import { type TrainConfigInput, train } from "../src/train/index.js";
import { Random } from "../src/util/random.js";
import { makeRawData, tempDir, writeTestWav } from "./data-helpers.js";

let root = "";
let library = "";
const classes = ["bass", "flute", "piano"];

/** 3 classes × 6 clips at 16 kHz; clips 0–3 of each class are group "alpha", 4–5 group "beta". */
before(() => {
  root = tempDir("stemscope-remix-");
  library = makeRawData(join(root, "raw"), classes, 6, 16000);
  const lines = classes.flatMap((cls) =>
    Array.from({ length: 6 }, (_, i) => {
      const group = i < 4 ? "alpha" : "beta";
      return JSON.stringify({
        file: `${cls}/clip${i}.wav`,
        class: cls,
        soundfont: group,
        group,
        program: 0,
        notes: [],
        velocity: 100,
        effects: {},
        seed: `${cls}:${i}`,
      });
    }),
  );
  writeFileSync(join(library, "manifest.jsonl"), lines.join("\n") + "\n");
});

test("drawn mixtures: the mixture is exactly the sum of its sources, K distinct classes in ascending order, seeded", async () => {
  const pool = await loadClipPool(library, { sampleRate: 16000 });
  assert.deepEqual(pool.classes, classes);
  assert.deepEqual(pool.groups, ["alpha", "beta"]);
  assert.equal(pool.clips.length, 18);
  const remixer = new Remixer(
    pool,
    pool.clips.map((_, i) => i),
    { sources: 2, length: 8000, gainDb: [-6, 6], peak: 0.9 },
  );
  const a = await remixer.draw(20, new Random(3));
  const b = await remixer.draw(20, new Random(3));
  assert.deepEqual(a, b, "the same seed draws the same mixtures");
  const c = await remixer.draw(20, new Random(4));
  assert.notDeepEqual(a.labels, c.labels);
  let peak = 0;
  a.mixtures.forEach((mix, m) => {
    const [l1, l2] = a.labels[m]!;
    assert.ok(l1! < l2!, `labels ${a.labels[m]} ascending and distinct`);
    assert.equal(mix.length, 8000);
    // Both are 16-bit values / 32767: their sum is exact in float32 to one rounding.
    for (let i = 0; i < mix.length; i += 7) {
      const sum = a.sources[m]![0]![i]! + a.sources[m]![1]![i]!;
      assert.ok(Math.abs(mix[i]! - sum) < 1e-6, `mixture ${m} at ${i}: ${mix[i]} vs ${sum}`);
    }
    for (const s of [mix, ...a.sources[m]!]) for (const v of s) peak = Math.max(peak, Math.abs(v));
  });
  assert.ok(peak <= 0.9 + 1e-4 && peak > 0.85, `peak ${peak}`);
  // Every pair of classes turns up in 20 draws of 3 choose 2.
  assert.equal(new Set(a.labels.map((l) => l.join())).size, 3);
});

test("disk storage: the pool holds no audio yet draws the same mixtures, at the same rate and resampled; a clip changed mid-run is named", async () => {
  const settings = { sources: 2, length: 4000, gainDb: [-6, 6] as const, peak: 0.9 };
  for (const sampleRate of [16000, 11025]) {
    const memory = await loadClipPool(library, { sampleRate });
    const disk = await loadClipPool(library, { sampleRate, storage: "disk" });
    assert.equal(disk.storage, "disk");
    assert.ok(disk.clips.every((clip) => clip.audio === undefined));
    // At the files' own rate the samples are read from the file as they are; resampled, decoded again.
    assert.ok(disk.clips.every((clip) => (clip.pcm !== undefined) === (sampleRate === 16000)));
    assert.deepEqual(
      disk.clips.map((clip) => clip.length),
      memory.clips.map((clip) => clip.audio!.length),
    );
    const ids = memory.clips.map((_, i) => i);
    const fromDisk = await new Remixer(disk, ids, settings).draw(12, new Random(5));
    const fromMemory = await new Remixer(memory, ids, settings).draw(12, new Random(5));
    assert.deepEqual(fromDisk, fromMemory, `${sampleRate} Hz`);
  }
  // Every 16-bit value, read from the file as it is (both storages): decodeClip's round(v/32768 · 32767).
  const full = makeRawData(join(root, "full-scale"), classes, 2, 16000);
  const path = join(full, "bass", "clip0.wav");
  const bytes = encodeWav(new Float32Array(65536), 16000).bytes;
  const values = new Int16Array(65536).map((_, i) => i - 32768);
  bytes.set(new Uint8Array(values.buffer), bytes.length - 2 * 65536);
  writeFileSync(path, bytes);
  // A float WAV and a stereo one are decoded instead, the same in both storages.
  writeTestWav(
    join(full, "flute", "clip0.wav"),
    [new Float32Array(800).fill(0.25), new Float32Array(800)],
    16000,
  );
  writeFileSync(
    join(full, "piano", "clip0.wav"),
    encodeWav(new Float32Array(800).fill(-0.5), 16000, { encoding: "float32" }).bytes,
  );
  const [fromFile, held] = await Promise.all(
    (["disk", "memory"] as const).map((storage) => loadClipPool(full, { sampleRate: 16000, storage })),
  );
  const expected = Int16Array.from(values, (v) => Math.round((v / 32768) * 32767));
  const id = (key: string) => fromFile!.clips.findIndex((clip) => clip.key === key);
  assert.ok(fromFile!.clips[id("bass/clip0.wav")]!.pcm !== undefined);
  assert.deepEqual(await readPoolClip(fromFile!, id("bass/clip0.wav")), expected);
  assert.deepEqual(held!.clips[id("bass/clip0.wav")]!.audio, expected);
  for (const [key, value] of [
    ["flute/clip0.wav", Math.round(0.125 * 32767)],
    ["piano/clip0.wav", Math.round(-0.5 * 32767)],
  ] as const) {
    assert.equal(fromFile!.clips[id(key)]!.pcm, undefined, key);
    const audio = await readPoolClip(fromFile!, id(key));
    assert.deepEqual(audio, held!.clips[id(key)]!.audio, key);
    assert.deepEqual(audio, new Int16Array(800).fill(value), key);
  }

  const changing = makeRawData(join(root, "changing"), classes, 2, 16000);
  for (const sampleRate of [16000, 11025]) {
    const pool = await loadClipPool(changing, { sampleRate, storage: "disk" });
    const id = pool.clips.findIndex((clip) => clip.key === "flute/clip1.wav");
    assert.equal((await readPoolClip(pool, id)).length, pool.clips[id]!.length);
    writeTestWav(join(changing, "flute", "clip1.wav"), new Float32Array(100), 16000);
    // Read as it is: the file's size tells; decoded again: its length.
    const now = sampleRate === 16000 ? "244 bytes" : "69 samples";
    await assert.rejects(readPoolClip(pool, id), {
      name: "DataError",
      message: new RegExp(
        `flute/clip1\\.wav: ${now} now, \\d+ when training began; the library changed during the run`,
      ),
    });
    makeRawData(changing, classes, 2, 16000);
  }
});

test("held-out groups leave the pool; unknown groups and a class left empty are refused", async () => {
  const pool = await loadClipPool(library, { sampleRate: 16000, holdOut: ["beta"] });
  assert.equal(pool.clips.length, 12);
  assert.ok(pool.clips.every((c) => c.group === "alpha"));
  assert.deepEqual(pool.heldOut, ["beta"]);
  await assert.rejects(loadClipPool(library, { sampleRate: 16000, holdOut: ["gamma"] }), {
    message: /`holdOut`: gamma not in .*manifest\.jsonl; its groups are alpha, beta/,
  });
  await assert.rejects(loadClipPool(library, { sampleRate: 16000, holdOut: ["alpha", "beta"] }), {
    message: /bass: no clips left after holding out alpha, beta/,
  });
});

test("the feed: validation clips are disjoint from training clips, validation is fixed, each epoch draws anew", async () => {
  const pool = await loadClipPool(library, { sampleRate: 16000 });
  const features = FeatureConfigSchema.parse({ mode: "native" });
  const settings = {
    sources: 2,
    mixtures: 12,
    valMixtures: 5,
    gainDb: [-6, 6] as const,
    testFraction: 0.34,
    seed: 1,
    threads: 1,
  };
  const feed = new RemixFeed(pool, features, settings);
  // round(6 · 0.34) = 2 of each class's 6 clips validate.
  assert.equal(feed.testClips, 6);
  assert.equal(feed.trainClips, 12);
  const batches = feed.trainBatches(1, 4, null);
  assert.deepEqual(
    batches.map((b) => b.length),
    [4, 4, 4],
  );
  const e1 = await feed.load(batches[0]!, { epoch: 1, train: true });
  const again = await feed.load(batches[0]!, { epoch: 1, train: true });
  const e2 = await feed.load(batches[0]!, { epoch: 2, train: true });
  assert.deepEqual(e1.mixture, again.mixture, "an epoch's draws are reproducible (resume)");
  assert.notDeepEqual(e1.mixture, e2.mixture, "another epoch draws other mixtures");
  assert.equal(e1.mixture.length, 4 * 128 * 128);
  assert.equal(e1.sources.length, 4 * 2 * 128 * 128);
  const [val] = feed.validationBatches(8, null);
  assert.deepEqual(val, [0, 1, 2, 3, 4]);
  const v1 = await feed.load(val!, { epoch: 1, train: false });
  const v2 = await feed.load(val!, { epoch: 3, train: false });
  assert.deepEqual(v1.mixture, v2.mixture, "validation mixtures are the same every epoch");
  // Two ranks draw different mixtures: their keys differ.
  const ranks = [0, 1].map((rank) =>
    feed.trainBatches(1, 4, { rank, worldSize: 2, shardTrain: (o) => [...o], shardEval: (o) => [...o] }),
  );
  assert.equal(ranks[0]!.length, 2);
  assert.deepEqual(ranks[0]![0], [0, 1, 2, 3]);
  assert.deepEqual(ranks[1]![0], [4, 5, 6, 7]);
});

/** A tiny two-epoch run on the library, beta held out, into `<root>/runs/<out>`. */
const tiny = (out: string, extra: Partial<TrainConfigInput> = {}): TrainConfigInput => ({
  data: library,
  out: join(root, "runs", out),
  preset: "tiny",
  features: "native",
  mixtures: 8,
  valMixtures: 4,
  batchSize: 4,
  epochs: 2,
  holdOut: ["beta"],
  threads: 1,
  cacheJobs: 1,
  ...extra,
});

test("train on a clip library: records how it drew, and a resumed run ends with the same weights", async () => {
  const whole = await train(tiny("whole"));
  assert.equal(whole.split, "clips");
  assert.equal(whole.trainSamples, 8);
  assert.equal(whole.testSamples, 4);
  assert.equal(whole.cache, undefined);
  const record = readModelConfig(join(root, "runs", "whole")).training!;
  assert.deepEqual(record.remix, {
    sources: 2,
    mixtures: 8,
    valMixtures: 4,
    gainDb: [-6, 6],
    holdOut: ["beta"],
    trainClips: 9,
    testClips: 3,
  });
  assert.equal(record.split.source, "clips");
  // The first half reads its clips from disk, the resumed half holds them in memory: the same draws.
  await train(tiny("halves", { epochs: 1, clipStorage: "disk" }));
  await train({ out: join(root, "runs", "halves"), resume: true, epochs: 2, clipStorage: "memory" });
  const weights = (run: string): Buffer => readFileSync(join(root, "runs", run, "last.safetensors"));
  assert.ok(weights("whole").equals(weights("halves")), "1 + 1 resumed epochs = 2 epochs, bit for bit");
});

test("--clip-storage disk: the run reads its clips from their files (one changed mid-run stops it, named)", async () => {
  assert.equal(trainFlagsToConfig({ data: library, out: "x", clipStorage: "disk" }).clipStorage, "disk");
  assert.throws(() => trainFlagsToConfig({ data: library, out: "x", clipStorage: "ram" }), {
    message: '--clip-storage must be one of memory, disk, got "ram"',
  });
  const copy = makeRawData(join(root, "copy"), classes, 6, 16000);
  const run = (name: string, clipStorage: "memory" | "disk") =>
    train(tiny(name, { data: copy, holdOut: [], clipStorage }), {
      // After the first epoch every clip is cut to 100 samples.
      onEpoch: () =>
        classes.forEach((cls) => {
          for (let i = 0; i < 6; i++)
            writeTestWav(join(copy, cls, `clip${i}.wav`), new Float32Array(100).fill(0.1), 16000);
        }),
    });
  await assert.rejects(run("disk-changed", "disk"), {
    name: "DataError",
    message: /clip\d\.wav: 244 bytes now, \d+ when training began; the library changed during the run/,
  });
  makeRawData(copy, classes, 6, 16000);
  assert.equal((await run("memory-changed", "memory")).epochs, 2, "memory storage holds the clips it loaded");
});

test("mix --groups: only the clips of the named groups", async () => {
  const out = join(root, "beta_only");
  await buildMixtures(
    { data: library, out, groups: ["beta"], samplesPerCombination: 4, testFraction: 0, seconds: 0.5 },
    { jobs: 1 },
  );
  const labels = readFileSync(join(out, "labels.txt"), "utf8").trim().split("\n");
  assert.equal(labels.length, 12);
  const plan = planMixtures({
    data: library,
    out,
    groups: ["beta"],
    samplesPerCombination: 4,
    testFraction: 0,
  });
  const used = new Set(plan.flatMap((p) => p.clips));
  assert.ok(
    [...used].every((clip) => /clip[45]\.wav$/.test(clip)),
    [...used].join(),
  );
  assert.ok(used.size >= 4);
  const mixJson = JSON.parse(readFileSync(join(out, "mix.json"), "utf8")) as { config: { groups: string[] } };
  assert.deepEqual(mixJson.config.groups, ["beta"]);
  await assert.rejects(
    buildMixtures({ data: library, out: join(root, "none"), groups: ["gamma"] }, { jobs: 1 }),
    { message: /`groups`: gamma not in .*manifest\.jsonl; its groups are alpha, beta/ },
  );
});
