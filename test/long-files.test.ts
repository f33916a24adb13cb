// Long files in bounded memory (issue 13): reading in blocks, resampling in blocks, and separating
// into WAV files block by block give what the whole-file path gives (the same stem files, byte for
// byte, with the native resampling kernel), with the mono mixture and the planes in temporary files
// that are removed afterwards.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { decodeAudioFile, writeWav } from "../src/audio/load.js";
import { allocatorStats } from "../src/engine/index.js";
import { resample } from "../src/audio/resample.js";
import { openAudioStream, StreamResampler } from "../src/audio/stream.js";
import { loadModel, type StemscopeModel } from "../src/infer/model.js";
import { OverlapAdd, StreamingOverlapAdd } from "../src/infer/overlap-add.js";
import { separateToFolder, writeSeparation } from "../src/infer/stems.js";
import { tempDir } from "./data-helpers.js";
import { lcgNoise } from "./feature-helpers.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";

let dir: string;
let model: StemscopeModel;
/** 12.3 s of 44.1 kHz stereo (11 windows; hundreds of blocks of 1000 frames). */
let stereo: string;
/** 5.5 s of 16 kHz mono (the model's rate: stems at the model's rate either way). */
let mono16k: string;

before(async () => {
  dir = tempDir("long-files-");
  model = await loadModel(await makeModelFolder(join(dir, "model"), { mode: "seed" }));
  const rate = 44100;
  const left = harmonicTone(12.3, rate, 220, 0.4);
  const right = harmonicTone(12.3, rate, 330, 0.3);
  const noise = noise32(left.length, 7);
  for (let i = 0; i < left.length; i++) {
    left[i] = left[i]! + 0.05 * noise[i]!;
    right[i] = right[i]! + 0.5 * left[i]! * (i > left.length / 2 ? 1 : 0);
  }
  stereo = join(dir, "stereo.wav");
  await writeWav(stereo, [left, right], rate, { encoding: "float32" });
  mono16k = join(dir, "mono16k.wav");
  await writeWav(mono16k, harmonicTone(5.5, 16000, 440, 0.5), 16000);
});

after(() => {
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** Deterministic noise, float32. */
const noise32 = (n: number, seed: number): Float32Array => Float32Array.from(lcgNoise(n, seed));

test("StreamResampler: block by block exactly the samples of resample on the whole signal, any block size", () => {
  const cases: [number, number, number, number][] = [
    [44100, 16000, 300_001, 7000],
    [48000, 16000, 100_000, 4096],
    [22050, 16000, 50_001, 999],
    [8000, 16000, 40_000, 3000],
    [44100, 16000, 1000, 64],
    [44100.5, 16000, 20_000, 1500], // not integer rates: collected, resampled at the end
  ];
  for (const [from, to, n, block] of cases) {
    const x = noise32(n, 3);
    const whole = resample(x, from, to);
    const resampler = new StreamResampler(from, to, n, block);
    assert.equal(resampler.outputLength, whole.length);
    const parts: Float32Array[] = [];
    for (let i = 0; i < n; i += block) parts.push(resampler.push(x.slice(i, Math.min(n, i + block))));
    parts.push(resampler.end());
    const got = new Float32Array(whole.length);
    let at = 0;
    for (const p of parts) {
      got.set(p, at);
      at += p.length;
    }
    assert.equal(at, whole.length, `${from} → ${to}: output length`);
    assert.deepEqual(got, whole, `${from} → ${to}`);
  }
});

test("openAudioStream: a WAV file's blocks are decodeAudioFile's samples exactly (pcm16 and float32)", async () => {
  for (const encoding of ["pcm16", "float32"] as const) {
    const path = join(dir, `blocks-${encoding}.wav`);
    await writeWav(
      path,
      [noise32(10_007, 1).map((v) => 0.5 * v), noise32(10_007, 2).map((v) => 0.5 * v)],
      22050,
      { encoding },
    );
    const whole = await decodeAudioFile(path);
    const stream = await openAudioStream(path);
    assert.deepEqual([stream.frames, stream.channels, stream.sampleRate], [10_007, 2, 22050]);
    let at = 0;
    for await (const block of stream.blocks(1000)) {
      block.forEach((channel, c) =>
        assert.deepEqual(channel, whole.channels[c]!.subarray(at, at + channel.length)),
      );
      at += block[0]!.length;
    }
    await stream.close();
    assert.equal(at, 10_007);
  }
  await assert.rejects(openAudioStream(join(dir, "missing.wav")), /missing\.wav: file not found/);
});

test("StreamingOverlapAdd gives OverlapAdd's values, taken as the windows come", () => {
  const total = 10_000;
  const length = 2000;
  const starts = [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000];
  const whole = new OverlapAdd(total, length);
  const streamed = new StreamingOverlapAdd(total, length);
  const parts: Float32Array[] = [];
  starts.forEach((start, w) => {
    const signal = noise32(length, w + 1);
    whole.add(start, signal);
    streamed.add(start, signal);
    parts.push(streamed.take(starts[w + 1] ?? total));
  });
  const got = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    got.set(p, at);
    at += p.length;
  }
  assert.equal(at, total);
  assert.deepEqual(got, whole.result());
});

/**
 * Separates `file` whole (separateFile + writeSeparation) and streamed, and compares the folders: the
 * same stem files, byte for byte, and the same predictions.json but for the per-window details.
 */
async function compareWithWhole(
  file: string,
  options: { stemFormat?: "input" | "model"; encoding: "pcm16" | "float32"; clipMode?: "clamp" | "rescale" },
  streaming: { blockFrames?: number; spillSeconds?: number },
): Promise<void> {
  const { encoding, clipMode, stemFormat } = options;
  const label = `${file} ${JSON.stringify(options)} ${JSON.stringify(streaming)}`;
  const wholeDir = join(dir, "whole", String(Math.random()).slice(2));
  const streamDir = join(dir, "streamed", String(Math.random()).slice(2));
  const separation = await model.separateFile(file, { stemFormat });
  await writeSeparation(wholeDir, file, separation, { encoding, clipMode });
  const { prediction, files } = await separateToFolder(model, file, streamDir, {
    stemFormat,
    encoding,
    clipMode,
    ...streaming,
  });
  const names = separation.stems.map((s) => `${s.name}.wav`);
  assert.deepEqual(
    files.map((f) => f.slice(streamDir.length + 1)),
    names,
  );
  assert.deepEqual(readdirSync(streamDir).sort(), readdirSync(wholeDir).sort(), label);
  for (const name of names) {
    const same = readFileSync(join(wholeDir, name)).equals(readFileSync(join(streamDir, name)));
    assert.ok(same, `${label} ${name}: the streamed file's bytes differ from the whole-file path's`);
  }
  const a = JSON.parse(readFileSync(join(wholeDir, "predictions.json"), "utf8"));
  const b = JSON.parse(readFileSync(join(streamDir, "predictions.json"), "utf8"));
  assert.deepEqual(
    { ...b, instruments: undefined, windows: undefined, namingStatistics: undefined },
    { ...a, instruments: undefined, windows: undefined, namingStatistics: undefined },
  );
  assert.equal(b.windows.length, a.windows.length);
  prediction.instruments.forEach((instrument, i) => {
    assert.equal(instrument.name, separation.prediction.instruments[i]!.name);
    assert.ok(Math.abs(instrument.probability - separation.prediction.instruments[i]!.probability) < 1e-5);
  });
}

test("separate streamed (1000-frame blocks, spilled to temporary files) equals the whole-file separation: stereo 44.1 kHz stems at the input's rate and at the model's, 16-bit rescaled", async () => {
  const tmp = join(dir, "tmp");
  mkdirSync(tmp);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp; // os.tmpdir(): the spill files must be gone afterwards
  try {
    const small = { blockFrames: 1000, spillSeconds: 0 };
    await compareWithWhole(stereo, { encoding: "float32" }, small);
    await compareWithWhole(stereo, { encoding: "float32", stemFormat: "model" }, small);
    await compareWithWhole(stereo, { encoding: "pcm16", clipMode: "rescale" }, small);
    await compareWithWhole(mono16k, { encoding: "pcm16" }, small);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

test("separate streamed with the default blocks (in memory) and with a tiny block on a short file equals the whole-file separation", async () => {
  await compareWithWhole(stereo, { encoding: "float32" }, {});
  const short = join(dir, "short.wav");
  await writeWav(short, [harmonicTone(1.3, 48000, 523, 0.3), harmonicTone(1.3, 48000, 262, 0.3)], 48000, {
    encoding: "float32",
  });
  await compareWithWhole(short, { encoding: "float32" }, { blockFrames: 256 });
});

test("predictFile streamed (small blocks, spilled) equals predict on the whole samples; a silent file has no instrument either way", async () => {
  const decoded = await decodeAudioFile(stereo);
  const mixed = decoded.channels[0]!.map((v, i) => (v + decoded.channels[1]![i]!) * 0.5);
  const whole = await model.predict(mixed, decoded.sampleRate);
  const streamed = await model.predictFile(stereo, { blockFrames: 777, spillSeconds: 0 });
  assert.equal(streamed.windows.length, whole.windows.length);
  streamed.windows.forEach((w, i) => {
    const v = whole.windows[i]!;
    assert.equal(w.start, v.start);
    assert.ok(Math.abs(w.rmsDb - v.rmsDb) < 1e-4);
    w.instruments.forEach((x, j) =>
      assert.ok(Math.abs(x.probability - v.instruments[j]!.probability) < 1e-5),
    );
  });
  const silent = join(dir, "silent.wav");
  await writeWav(silent, new Float32Array(16000 * 3), 16000);
  const none = await model.predictFile(silent, { blockFrames: 500, spillSeconds: 0 });
  assert.equal(none.noInstrument?.reason, "silence");
});

test("separate streamed into a folder that cannot be made: one error naming it, no partial folder, no spill files left", async () => {
  const tmp = join(dir, "tmp-fail");
  mkdirSync(tmp);
  const blocker = join(dir, "not-a-folder");
  writeFileSync(blocker, "x");
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    await assert.rejects(
      separateToFolder(model, mono16k, join(blocker, "track"), { spillSeconds: 0 }),
      (error: Error) => error.message.startsWith(`${join(blocker, "track")}: cannot write the stems`),
    );
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

test("separate hands the forward's buffers, cached by the engine's allocator, back before the stems pass (they would add to its peak memory)", async () => {
  // predict keeps the buffers of its last batch cached for the next file (11 windows in batches of
  // 4: the last holds 3)
  await model.predictFile(stereo, { batchSize: 4 });
  if (allocatorStats().caching) assert.ok(allocatorStats().cachedBytes > 0);
  let cachedAtStart = -1;
  const sink = {
    start: async () => {
      cachedAtStart = allocatorStats().cachedBytes;
    },
    write: async () => undefined,
  };
  await model.separateFileTo(stereo, sink, { batchSize: 4 });
  assert.equal(cachedAtStart, 0);
});

test("a spilled run removes the spill folders of killed runs (their pid gone) and keeps those of running ones", async () => {
  const tmp = join(dir, "tmp-stale");
  mkdirSync(tmp);
  const gone = spawnSync(process.execPath, ["-e", ""]).pid!; // exited: its pid no longer runs
  const stale = join(tmp, `stemscope-spill-${gone}-abc123`);
  const running = join(tmp, `stemscope-spill-${process.ppid}-def456`);
  for (const folder of [stale, running]) {
    mkdirSync(folder);
    writeFileSync(join(folder, "planes.f32"), new Uint8Array(16));
  }
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    await model.predictFile(mono16k, { spillSeconds: 0 });
    assert.deepEqual(readdirSync(tmp), [`stemscope-spill-${process.ppid}-def456`]);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});
