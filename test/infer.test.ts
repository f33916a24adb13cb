// Sliding-window inference: window plan, the play-probability combination and the file summary on
// constructed logits, masks that sum to one, predict/separate on a random tiny model (shapes,
// silence, padding, resampling, stems summing to the mixture, no tensor leaks).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { liveTensorCount } from "../src/engine/index.js";
import { computeFeatures, nativeFeatures, resolveFeatureConfig } from "../src/features/index.js";
import { siSdr } from "../src/eval/metrics.js";
import { OverlapAdd } from "../src/infer/overlap-add.js";
import { linearMasks, melShares, separateClip } from "../src/separator/masks.js";
import { loadModel } from "../src/infer/model.js";
import { planWindows, rmsDb, summarise } from "../src/infer/windows.js";
import { playProbabilities, rankInstruments, softmaxRows } from "../src/separator/naming.js";
import { lcgNoise } from "./feature-helpers.js";
import { harmonicTone, makeModelFolder, tinyModelPair } from "./infer-helpers.js";

const TOLERANCE = 1e-9;
const models = tinyModelPair("stemscope-infer-");
const dir = models.dir;

test("window plan: 2-s windows every 1 s, the last one ending at the end; one window for short input", () => {
  const sr = 100;
  assert.deepEqual(
    planWindows(550, 200, 100).map((w) => w.start),
    [0, 100, 200, 300, 350],
  );
  assert.deepEqual(
    planWindows(500, 200, 100).map((w) => w.start),
    [0, 100, 200, 300],
  );
  assert.deepEqual(planWindows(200, 200, 100), [{ start: 0, length: 200 }]);
  assert.deepEqual(planWindows(50, 2 * sr, sr), [{ start: 0, length: 200 }]);
  assert.throws(() => planWindows(0, 200, 100), /total must be ≥ 1/);
});

test("play probability 1 − Π_k (1 − p_k) and the file summary (max over non-silent windows) on constructed logits", () => {
  // two sources, three classes; logits chosen so the softmax values are known
  const logits = [Math.log(6), Math.log(3), Math.log(1), 0, 0, 0];
  const p = softmaxRows(logits, 3);
  for (const [i, v] of [0.6, 0.3, 0.1, 1 / 3, 1 / 3, 1 / 3].entries())
    assert.ok(Math.abs(p[i]! - v) < TOLERANCE);
  const plays = playProbabilities(p, 3);
  assert.ok(Math.abs(plays[0]! - (1 - 0.4 * (2 / 3))) < TOLERANCE);
  assert.ok(Math.abs(plays[1]! - (1 - 0.7 * (2 / 3))) < TOLERANCE);
  assert.ok(Math.abs(plays[2]! - (1 - 0.9 * (2 / 3))) < TOLERANCE);
  const windows = [
    [0.9, 0.2, 0.1],
    [0.1, 0.95, 0.3],
    [0.99, 0.99, 0.99], // silent: ignored
  ];
  const summary = summarise(windows, [false, false, true], 3, "max");
  assert.deepEqual(Array.from(summary), [0.9, 0.95, 0.3]);
  assert.deepEqual(rankInstruments(summary, ["a", "b", "c"]), [
    { name: "b", probability: 0.95 },
    { name: "a", probability: 0.9 },
    { name: "c", probability: 0.3 },
  ]);
  const mean = Array.from(summarise(windows, [false, false, true], 3));
  for (const [i, v] of [0.5, 0.575, 0.2].entries()) assert.ok(Math.abs(mean[i]! - v) < 1e-12, `${mean}`);
  for (const mode of ["mean", "max"] as const)
    assert.ok(Array.from(summarise(windows, [true, true, true], 3, mode)).every(Number.isNaN));
  assert.equal(rmsDb(new Float32Array(10)), -Infinity);
  assert.ok(Math.abs(rmsDb(new Float32Array(10).fill(0.1)) - -20) < 1e-6);
});

test("masks: mel shares and linear masks sum to 1; a clip's stems sum back to the clip", () => {
  for (const mode of ["seed", "native"] as const) {
    const config = resolveFeatureConfig({ mode });
    const clip = harmonicTone(2, 16000, 330);
    const a = new Float32Array(128 * 128);
    const b = new Float32Array(128 * 128);
    for (let i = 0; i < a.length; i++) {
      a[i] = (i % 7) / 7;
      b[i] = ((i * 13) % 11) / 11;
    }
    const shares = melShares([a, b], clip, config);
    for (let i = 0; i < shares[0]!.length; i += 97)
      assert.ok(Math.abs(shares[0]![i]! + shares[1]![i]! - 1) < 1e-9);
    const masks = linearMasks(shares, config);
    for (let i = 0; i < masks[0]!.length; i += 89) {
      assert.ok(masks[0]![i]! >= 0 && masks[0]![i]! <= 1);
      assert.ok(Math.abs(masks[0]![i]! + masks[1]![i]! - 1) < 1e-6, `${mode}: mask sum at ${i}`);
    }
    const stems = separateClip(clip, [a, b], config);
    let maxErr = 0;
    for (let i = 0; i < clip.length; i++)
      maxErr = Math.max(maxErr, Math.abs(stems[0]![i]! + stems[1]![i]! - clip[i]!));
    assert.ok(maxErr < 1e-5, `${mode}: stems sum to the clip within 1e-5, got ${maxErr}`);
  }
});

test("separateClip with the true native spectrograms gives the sources back (SDR > 15 dB tone, > 10 dB noise)", (t) => {
  const n = 32000;
  const sr = 16000;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  const noise = lcgNoise(n, 4242);
  for (let i = 0; i < n; i++) {
    a[i] = 0.4 * Math.sin((2 * Math.PI * 220 * i) / sr) + 0.2 * Math.sin((2 * Math.PI * 440 * i) / sr);
    b[i] = 0.1 * noise[i]! * (i > 16000 ? 1 : 0.2);
  }
  const mix = a.map((v, i) => v + b[i]!);
  const config = resolveFeatureConfig({ mode: "native" });
  const nf = nativeFeatures(mix, [a, b], config);
  const [ra, rb] = separateClip(mix, nf.sources, config);
  const sdr = (ref: Float32Array, est: Float32Array): number => {
    let s = 0;
    let e = 0;
    for (let i = 2048; i < n - 2048; i++) {
      s += ref[i]! ** 2;
      e += (ref[i]! - est[i]!) ** 2;
    }
    return 10 * Math.log10(s / e);
  };
  assert.ok(ra !== undefined && rb !== undefined && ra.length === n);
  const sa = sdr(a, ra);
  const sb = sdr(b, rb);
  t.diagnostic(`separateClip SDR: a ${sa.toFixed(1)} dB, b ${sb.toFixed(1)} dB`);
  assert.ok(sa > 15, `source a SDR ${sa.toFixed(1)} dB`);
  assert.ok(sb > 10, `source b SDR ${sb.toFixed(1)} dB`);
});

test("masks from oracle spectrograms separate two tones (SI-SDR > 20 dB, from 3.5 / −3.5 dB in the mixture)", () => {
  const a = harmonicTone(2, 16000, 220, 0.3);
  const b = harmonicTone(2, 16000, 1500, 0.2);
  const mix = a.map((v, i) => v + b[i]!);
  for (const mode of ["native", "seed"] as const) {
    const config = resolveFeatureConfig({ mode });
    // what a perfect model would output: native = sources on the mixture's scale, seed = each min-max'd
    const oracle =
      mode === "native"
        ? nativeFeatures(mix, [a, b], config).sources
        : [a, b].map((s) => computeFeatures(s, config));
    const stems = separateClip(mix, oracle, config);
    assert.ok(siSdr(stems[0]!, a) > 20, `${mode}: source 1 ${siSdr(stems[0]!, a)} dB`);
    assert.ok(siSdr(stems[1]!, b) > 20, `${mode}: source 2 ${siSdr(stems[1]!, b)} dB`);
  }
});

test("overlap-add with normalised cross-fades reproduces a signal cut into windows", () => {
  const x = harmonicTone(1, 1000, 7);
  const ola = new OverlapAdd(x.length, 300);
  for (const w of planWindows(x.length, 300, 100)) ola.add(w.start, x.slice(w.start, w.start + 300));
  const y = ola.result();
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i]! - x[i]!) < 1e-6);
});

test("predict: every class listed and sorted, windows with times, silence marked and left out of the summary", async () => {
  const sr = 16000;
  const audio = new Float32Array(Math.round(5.5 * sr));
  audio.set(harmonicTone(2.5, sr, 440), 3 * sr); // silence for 0–3 s
  const before = liveTensorCount();
  const progress: number[] = [];
  const result = await models.seed.predict(audio, sr, {
    onProgress: (done) => progress.push(done),
    batchSize: 2,
  });
  assert.equal(liveTensorCount(), before);
  assert.deepEqual(progress, [2, 4, 5]);
  assert.deepEqual(
    result.windows.map((w) => [w.start, w.end]),
    [
      [0, 2],
      [1, 3],
      [2, 4],
      [3, 5],
      [3.5, 5.5],
    ],
  );
  assert.deepEqual(
    result.windows.map((w) => w.silent),
    [true, true, false, false, false],
  );
  assert.equal(result.instruments.length, 3);
  assert.deepEqual(result.instruments.map((i) => i.name).sort(), ["cello", "flute", "piano"]);
  for (let i = 1; i < 3; i++)
    assert.ok(result.instruments[i - 1]!.probability >= result.instruments[i]!.probability);
  // summary = mean over the non-silent windows (the default)
  for (const inst of result.instruments) {
    const values = result.windows
      .filter((w) => !w.silent)
      .map((w) => w.instruments.find((x) => x.name === inst.name)!.probability);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(Math.abs(inst.probability - mean) < TOLERANCE, `${inst.name}: ${inst.probability} vs ${mean}`);
    assert.ok(inst.probability >= 0 && inst.probability <= 1);
  }
  assert.equal(result.windows[0]!.sources.length, 2);
  assert.deepEqual(result.warnings, []);
  assert.equal(result.durationSeconds, 5.5);
});

test("predict: batching does not change the result, bf16 is close; other rates are resampled; short input is padded with a warning", async () => {
  const sr = 16000;
  const audio = harmonicTone(4, sr, 262);
  const a = await models.seed.predict(audio, sr, { batchSize: 16 });
  const b = await models.seed.predict(audio, sr, { batchSize: 1 });
  for (let i = 0; i < a.instruments.length; i++) {
    assert.equal(a.instruments[i]!.name, b.instruments[i]!.name);
    assert.ok(Math.abs(a.instruments[i]!.probability - b.instruments[i]!.probability) < 1e-5);
  }
  const c = await models.seed.predict(audio, sr, { bf16: true });
  for (const inst of a.instruments) {
    const other = c.instruments.find((x) => x.name === inst.name)!;
    assert.ok(Math.abs(other.probability - inst.probability) < 0.05, `bf16 ${inst.name}`);
  }
  const r = await models.seed.predict(harmonicTone(3, 22050, 262), 22050);
  assert.equal(r.sampleRate, 16000);
  assert.ok(Math.abs(r.durationSeconds - 3) < 1e-3);
  const short = await models.seed.predict(harmonicTone(0.5, sr, 262), sr, { name: "short.wav" });
  assert.equal(short.windows.length, 1);
  assert.match(short.warnings[0]!, /short\.wav: 0\.50 s is shorter than one 2 s window; zero-padded to 2 s/);
  const quiet = await models.seed.predict(new Float32Array(3 * sr), sr, { name: "quiet.wav" });
  assert.deepEqual(quiet.noInstrument, {
    reason: "silence",
    detail: "silent: every window is below -60 dBFS RMS (loudest digital silence)",
  });
  assert.deepEqual(quiet.instruments, []);
  await assert.rejects(models.seed.predict(new Float32Array(0), sr), /no samples/);
});

test("separate: K stems named by the top instruments that sum back to the mixture (seed and native models)", async () => {
  const sr = 16000;
  const a = harmonicTone(4.3, sr, 220, 0.3);
  const b = harmonicTone(4.3, sr, 587, 0.2);
  const mixture = a.map((v, i) => v + b[i]!);
  for (const model of [models.seed, models.native]) {
    const before = liveTensorCount();
    const sep = await model.separate(mixture, sr);
    assert.equal(liveTensorCount(), before);
    assert.equal(sep.stems.length, 2);
    assert.deepEqual(
      sep.stems.map((s) => s.name),
      sep.prediction.instruments.slice(0, 2).map((i) => i.name),
    );
    let maxErr = 0;
    let peak = 0;
    for (let i = 0; i < mixture.length; i++) {
      maxErr = Math.max(
        maxErr,
        Math.abs(sep.stems[0]!.channels[0]![i]! + sep.stems[1]!.channels[0]![i]! - mixture[i]!),
      );
      peak = Math.max(peak, Math.abs(mixture[i]!));
    }
    assert.ok(
      maxErr < 1e-5 * Math.max(1, peak),
      `${model.features.mode}: stems sum to the mixture, error ${maxErr}`,
    );
    assert.equal(sep.stems[0]!.channels[0]!.length, mixture.length);
  }
});

test("loadModel: missing folder, unsupported formatVersion, missing default model", async () => {
  await assert.rejects(loadModel(join(dir, "nope")), /nope: model folder not found/);
  const bad = join(dir, "v3");
  await makeModelFolder(bad);
  writeFileSync(join(bad, "config.json"), JSON.stringify({ formatVersion: 3 }));
  await assert.rejects(
    loadModel(bad),
    /formatVersion 3 is not supported; this stemscope reads formatVersion 1 and 2/,
  );
});
