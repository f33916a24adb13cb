// Stems at the input's rate and channels: the model's masks carried to each channel's own STFT
// (src/separator/full-rate.ts) — constructed masks followed in frequency (a 12 kHz tone takes the top
// band's mask) and in time, equal rates giving separateClip's stems, oracle masks separating at
// 44.1 kHz; then separate on a random tiny model (44.1 kHz stereo stems as long as the input that
// sum to it per channel, left and right kept apart, content above 8 kHz kept, mono 16 kHz as before)
// and the CLI writing them.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { decodeAudioFile, encodeWav, resample } from "../src/audio/index.js";
import { buildProgram } from "../src/cli/main.js";
import { liveTensorCount } from "../src/engine/index.js";
import { siSdr } from "../src/eval/metrics.js";
import { type FeatureConfig, nativeFeatures, resolveFeatureConfig } from "../src/features/index.js";
import { getExtractor } from "../src/features/pipeline.js";
import { type Separation } from "../src/infer/model.js";
import { bestAssignment } from "../src/separator/assignment.js";
import { FullRateSeparation, stftAtRate } from "../src/separator/full-rate.js";
import { linearMasks, melShares, separateClip } from "../src/separator/masks.js";
import { harmonicTone, tinyModelPair } from "./infer-helpers.js";

const models = tinyModelPair("stemscope-separate-rate-");
const dir = models.dir;

/** A sine of `seconds` at `rate` Hz. */
function sine(seconds: number, rate: number, freq: number, amp: number): Float32Array {
  return new Float32Array(Math.round(seconds * rate)).map(
    (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate),
  );
}

/** Amplitude of the `freq` Hz component of x[from, to) (a sine of amplitude a gives a). */
function amplitudeAt(x: Float32Array, rate: number, freq: number, from = 0, to = x.length): number {
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += x[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

/** Largest |Σ signals − expected| (and the peak of expected). */
function sumError(signals: readonly Float32Array[], expected: Float32Array): { error: number; peak: number } {
  let error = 0;
  let peak = 0;
  for (let i = 0; i < expected.length; i++) {
    let sum = 0;
    for (const s of signals) sum += s[i]!;
    error = Math.max(error, Math.abs(sum - expected[i]!));
    peak = Math.max(peak, Math.abs(expected[i]!));
  }
  return { error, peak };
}

/** Every frame of a FullRateSeparation at once: per stem, one array per channel. */
function separateAll(
  channels: readonly Float32Array[],
  rate: number,
  config: FeatureConfig,
  windowStarts: readonly number[],
  masksOf: (window: number) => readonly Float32Array[],
): Float32Array[][] {
  const separation = new FullRateSeparation(channels, rate, config, windowStarts, masksOf, 2);
  while (separation.advance(100) < separation.frames);
  return separation.finish();
}

/** Samples [from, to) seconds at `rate`. */
function span(rate: number, from: number, to: number): [number, number] {
  return [Math.round(from * rate), Math.round(to * rate)];
}

/** RMS of x over [a, b). */
function rms(x: Float32Array, [a, b]: [number, number]): number {
  let s = 0;
  for (let i = a; i < b; i++) s += x[i]! ** 2;
  return Math.sqrt(s / (b - a));
}

/** Mel shares [nMels, frames] of two stems: share(m, t) for stem 0, 1 − share for stem 1. */
function twoShares(config: FeatureConfig, share: (band: number, frame: number) => number): Float64Array[] {
  const frames = getExtractor(config).frames;
  const a = new Float64Array(config.nMels * frames);
  for (let m = 0; m < config.nMels; m++) for (let t = 0; t < frames; t++) a[m * frames + t] = share(m, t);
  return [a, a.map((v) => 1 - v)];
}

test("full-rate STFT: the model's window length to the nearest power of two, its hop scaled", () => {
  const native = resolveFeatureConfig({ mode: "native" }); // nFft 2048, hop 251 at 16 kHz
  assert.deepEqual(stftAtRate(native, 16000), { nFft: 2048, hop: 251 });
  assert.deepEqual(stftAtRate(native, 44100), { nFft: 4096, hop: 692 });
  assert.deepEqual(stftAtRate(native, 48000), { nFft: 8192, hop: 753 });
  assert.deepEqual(stftAtRate(native, 8000), { nFft: 1024, hop: 126 });
  assert.deepEqual(stftAtRate(resolveFeatureConfig({ mode: "seed" }), 22050), { nFft: 2048, hop: 706 });
});

test("masks carried in frequency: at 44.1 kHz a 12 kHz tone takes the top band's mask, 7.5 kHz and 300 Hz tones their bands'", () => {
  const rate = 44100;
  for (const mode of ["native", "seed"] as const) {
    const config = resolveFeatureConfig({ mode });
    // stem 0 has 0.9 of the top 8 bands (from 6.4 kHz; bins above 6.7 kHz lie in them alone) and 0.2
    // of the rest, in every frame
    const masks = linearMasks(
      twoShares(config, (m) => (m >= config.nMels - 8 ? 0.9 : 0.2)),
      config,
    );
    const high = sine(2, rate, 12000, 0.4);
    const top = sine(2, rate, 7500, 0.3);
    const low = sine(2, rate, 300, 0.3);
    const segment = high.map((v, i) => v + top[i]! + low[i]!);
    const stems = separateAll([segment], rate, config, [0], () => masks).map((stem) => stem[0]!);
    assert.equal(stems.length, 2);
    const { error } = sumError(stems, segment);
    assert.ok(error < 1e-6, `${mode}: stems sum to the segment, error ${error}`);
    // away from the ends, where the zero padding spreads each tone over other bands' bins
    const margin = stftAtRate(config, rate).nFft;
    let worst = 0;
    for (let i = margin; i < segment.length - margin; i++) {
      worst = Math.max(worst, Math.abs(stems[0]![i]! - (0.9 * (high[i]! + top[i]!) + 0.2 * low[i]!)));
      worst = Math.max(worst, Math.abs(stems[1]![i]! - (0.1 * (high[i]! + top[i]!) + 0.8 * low[i]!)));
    }
    assert.ok(worst < 1e-3, `${mode}: stems are the tones times their masks, error ${worst}`);
  }
});

test("masks carried in time: a mask that switches mid-window switches the full-rate stem there, also in a window that starts later", () => {
  const rate = 44100;
  const config = resolveFeatureConfig({ mode: "native" });
  const { frames, hop } = getExtractor(config);
  const half = Math.floor(frames / 2);
  const masks = linearMasks(
    twoShares(config, (_, t) => (t < half ? 1 : 0)),
    config,
  );
  // the switch: halfway between the model's frames half − 1 and half, seconds after the window's start
  const switchAt = ((half - 0.5) * hop) / config.sampleRate;
  for (const offsetSeconds of [0, 0.3]) {
    const segment = harmonicTone(2 + offsetSeconds, rate, 440, 0.4);
    const [stem0, stem1] = separateAll(
      [segment],
      rate,
      config,
      [offsetSeconds * config.sampleRate],
      () => masks,
    );
    const at = switchAt + offsetSeconds; // in the segment
    const before = span(rate, 0.05, at - 0.1);
    const afterSwitch = span(rate, at + 0.1, 1.95 + offsetSeconds);
    const input = rms(segment, before);
    assert.ok(
      rms(stem1![0]!, before) < 1e-3 * input,
      `offset ${offsetSeconds}: stem 1 silent before the switch`,
    );
    assert.ok(rms(stem0![0]!, afterSwitch) < 1e-3 * input, `offset ${offsetSeconds}: stem 0 silent after it`);
    const edge = span(rate, at - 0.03, at + 0.03);
    assert.ok(
      rms(stem0![0]!, edge) > 0.1 * input && rms(stem1![0]!, edge) > 0.1 * input,
      `offset ${offsetSeconds}: the switch is at ${at.toFixed(3)} s`,
    );
  }
});

test("windows cross-faded: with stem 0's window at 0–2 s and stem 1's at 1–3 s, 0–1 s is stem 0's, 2–3 s stem 1's, Hann-weighted between", () => {
  const rate = 48000;
  const config = resolveFeatureConfig({ mode: "seed" });
  const masks = [
    linearMasks(
      twoShares(config, () => 1),
      config,
    ),
    linearMasks(
      twoShares(config, () => 0),
      config,
    ),
  ];
  const segment = harmonicTone(3, rate, 250, 0.4);
  const [stem0, stem1] = separateAll([segment], rate, config, [0, config.sampleRate], (w) => masks[w]!);
  const input = rms(segment, span(rate, 0, 3));
  assert.ok(rms(stem1![0]!, span(rate, 0, 0.95)) < 1e-4 * input, "0–1 s: stem 0 alone");
  assert.ok(rms(stem0![0]!, span(rate, 2.05, 3)) < 1e-4 * input, "2–3 s: stem 1 alone");
  // between, stem 0 has c0 / (c0 + c1) of it: c = 0.5 − 0.5 cos(2π · (seconds into the window) / 2)
  const hann = (seconds: number): number => 0.5 - 0.5 * Math.cos(Math.PI * seconds);
  for (const at of [1.25, 1.5, 1.75]) {
    const around = span(rate, at - 0.01, at + 0.01);
    const share = rms(stem0![0]!, around) / rms(segment, around);
    const expected = hann(at) / (hann(at) + hann(at - 1));
    assert.ok(Math.abs(share - expected) < 0.02, `${at} s: ${expected} in stem 0, got ${share}`);
  }
});

test("at the model's rate one window is separateClip (the mapping is the identity)", () => {
  for (const mode of ["native", "seed"] as const) {
    const config = resolveFeatureConfig({ mode });
    const clip = harmonicTone(2, 16000, 330);
    const planes = [0, 1].map((p) =>
      new Float32Array(128 * 128).map((_, i) => ((i * (7 + 6 * p)) % 11) / 11),
    );
    const expected = separateClip(clip, planes, config);
    const masks = linearMasks(melShares(planes, clip, config), config);
    const stems = separateAll([clip], 16000, config, [0], () => masks);
    let worst = 0;
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < clip.length; i++)
        worst = Math.max(worst, Math.abs(stems[s]![0]![i]! - expected[s]![i]!));
    assert.ok(worst < 1e-6, `${mode}: same stems as separateClip, error ${worst}`);
  }
});

test("oracle masks from the 16 kHz mixture separate two 44.1 kHz tones (SI-SDR > 20 dB)", () => {
  const rate = 44100;
  const a = harmonicTone(2, rate, 220, 0.3);
  const b = harmonicTone(2, rate, 1500, 0.2);
  const mix = a.map((v, i) => v + b[i]!);
  const config = resolveFeatureConfig({ mode: "native" });
  const at16k = (x: Float32Array): Float32Array => resample(x, rate, 16000).subarray(0, 32000);
  const oracle = nativeFeatures(at16k(mix), [at16k(a), at16k(b)], config).sources;
  const masks = linearMasks(melShares(oracle, at16k(mix), config), config);
  const [sa, sb] = separateAll([mix], rate, config, [0], () => masks);
  assert.ok(siSdr(sa![0]!, a) > 20, `source 1 ${siSdr(sa![0]!, a).toFixed(1)} dB`);
  assert.ok(siSdr(sb![0]!, b) > 20, `source 2 ${siSdr(sb![0]!, b).toFixed(1)} dB`);
});

/** Checks a separation of `channels` at `rate`: shape, length, and per channel Σ stems = channel. */
function assertStemsSum(
  sep: Separation,
  channels: readonly Float32Array[],
  rate: number,
  label: string,
): void {
  assert.equal(sep.sampleRate, rate, `${label}: stems at the input's rate`);
  assert.equal(sep.mixture.length, channels.length);
  for (const stem of sep.stems) {
    assert.equal(stem.channels.length, channels.length, `${label}: stems have the input's channels`);
    for (const c of stem.channels)
      assert.equal(c.length, channels[0]!.length, `${label}: stems as long as the input`);
  }
  channels.forEach((channel, c) => {
    const { error, peak } = sumError(
      sep.stems.map((s) => s.channels[c]!),
      channel,
    );
    assert.ok(error < 1e-5 * Math.max(1, peak), `${label}: channel ${c}'s stems sum to it, error ${error}`);
  });
}

test("separate 44.1 kHz stereo: 44.1 kHz stereo stems that sum to each channel; left and right kept apart; 12 kHz kept", async () => {
  const rate = 44100;
  const high = sine(4.3, rate, 12000, 0.1);
  const left = harmonicTone(4.3, rate, 220, 0.3).map((v, i) => v + high[i]!);
  const right = harmonicTone(4.3, rate, 587, 0.2);
  for (const model of [models.seed, models.native]) {
    const label = model.features.mode;
    const before = liveTensorCount();
    const sep = await model.separate([left, right], rate);
    assert.equal(liveTensorCount(), before);
    assertStemsSum(sep, [left, right], rate, label);
    const interior: [number, number] = [rate / 2, left.length - rate / 2];
    // content above the model's 8 kHz: all of the 12 kHz tone is in the stems' left channels …
    const amps = sep.stems.map((s) => amplitudeAt(s.channels[0]!, rate, 12000, ...interior));
    assert.ok(amps.reduce((a, b) => a + b) > 0.099, `${label}: 12 kHz in the stems: ${amps.join(", ")}`);
    for (const stem of sep.stems) {
      const r = stem.channels[1]!;
      // … and none of it (nor of the left's 220 Hz) leaks into the right channels
      assert.ok(amplitudeAt(r, rate, 12000, ...interior) < 1e-4, `${label}: no 12 kHz on the right`);
      assert.ok(amplitudeAt(r, rate, 220, ...interior) < 1e-3, `${label}: no 220 Hz on the right`);
      assert.ok(
        amplitudeAt(stem.channels[0]!, rate, 587, ...interior) < 1e-3,
        `${label}: no 587 Hz on the left`,
      );
    }
    // the model-rate stems are mono at 16 kHz, as before
    const old = await model.separate([left, right], rate, { stemFormat: "model" });
    assert.equal(old.sampleRate, 16000);
    assert.deepEqual(
      old.stems.map((s) => s.channels.length),
      [1, 1],
    );
    assertStemsSum(old, old.mixture, 16000, `${label} model format`);
  }
});

test("separate: the 12 kHz tone goes to the stem whose top-band mask is largest (one 2-s window)", async (t) => {
  const rate = 44100;
  const model = models.native;
  const high = sine(2, rate, 12000, 0.1);
  const input = harmonicTone(2, rate, 220, 0.3).map((v, i) => v + high[i]!);
  const sep = await model.separate(input, rate);
  assertStemsSum(sep, [input], rate, "mono 44.1 kHz");
  // the model's view: its one window, its masks' top bin (which the bins above 8 kHz take), and
  // which stem each source went to (as separate assigns them)
  const clip = resample(input, rate, 16000).subarray(0, model.featurizer.clipLength);
  const out = await model.analyse([Float32Array.from(clip)], { planes: true });
  const masks = linearMasks(melShares(out.planesOf(0), clip, model.features), model.features);
  const frames = getExtractor(model.features).frames;
  const top = model.features.nFft / 2;
  const topMask = masks.map(
    (m) => m.subarray(top * frames, (top + 1) * frames).reduce((a, b) => a + b) / frames,
  );
  const probs = out.probabilitiesOf(0);
  const c = model.classes.length;
  const stemClass = sep.stems.map((s) => model.classes.indexOf(s.name));
  const best = bestAssignment(
    Array.from({ length: model.sources }, (_, s) => stemClass.map((cls) => -probs[s * c + cls]!)),
  );
  const interior: [number, number] = [rate / 4, input.length - rate / 4];
  const amps = sep.stems.map((s) => amplitudeAt(s.channels[0]!, rate, 12000, ...interior));
  t.diagnostic(
    `top-band masks ${topMask.map((m) => m.toFixed(3)).join(", ")}; 12 kHz per stem ${amps.map((a) => a.toFixed(4)).join(", ")}`,
  );
  best.forEach((stem, source) => {
    assert.ok(
      Math.abs(amps[stem]! / 0.1 - topMask[source]!) < 0.05,
      `stem ${stem} has ${amps[stem]! / 0.1} of the tone, its source's mean top-band mask is ${topMask[source]}`,
    );
  });
  const loudest = amps.indexOf(Math.max(...amps));
  const largest = topMask.indexOf(Math.max(...topMask));
  assert.equal(loudest, best[largest], "the tone is loudest in the stem of the largest top-band mask");
});

test("separate: mono 16 kHz gives the model-rate stems; identical stereo channels at 16 kHz give them per channel", async (t) => {
  const sr = 16000;
  const a = harmonicTone(3.1, sr, 220, 0.3);
  const b = harmonicTone(3.1, sr, 587, 0.2);
  const mono = a.map((v, i) => v + b[i]!);
  for (const model of [models.seed, models.native]) {
    const label = model.features.mode;
    const today = await model.separate(mono, sr, { stemFormat: "model" });
    const sep = await model.separate(mono, sr);
    assert.equal(sep.sampleRate, sr);
    assert.deepEqual(sep.stems, today.stems, `${label}: mono 16 kHz input, the same stems`);
    const stereo = await model.separate([mono, Float32Array.from(mono)], sr);
    assertStemsSum(stereo, [mono, mono], sr, `${label} stereo 16 kHz`);
    // not to round-off: the input-rate path cross-fades the windows' masks, the model-rate path their
    // stems; the difference is small beside the mixture (dB below it)
    stereo.stems.forEach((stem, k) => {
      assert.equal(stem.name, today.stems[k]!.name);
      const reference = today.stems[k]!.channels[0]!;
      for (const channel of stem.channels) {
        let signal = 0;
        let error = 0;
        for (let i = 0; i < mono.length; i++) {
          signal += mono[i]! ** 2;
          error += (channel[i]! - reference[i]!) ** 2;
        }
        const below = 10 * Math.log10(signal / error);
        t.diagnostic(
          `${label} stem ${k}: stereo 16 kHz − mono stem ${below.toFixed(1)} dB below the mixture`,
        );
        assert.ok(
          below > 50,
          `${label}: each channel's stems are the mono stems; the difference is only ${below.toFixed(1)} dB below the mixture`,
        );
      }
    });
  }
});

test("separate: mono 22.05 kHz and a 0.7-s three-channel 48 kHz input keep their rate and channels; ragged channels are refused", async () => {
  const rate = 22050;
  const input = harmonicTone(3.1, rate, 330, 0.3);
  const sep = await models.native.separate(input, rate);
  assertStemsSum(sep, [input], rate, "22.05 kHz");
  const short = [220, 330, 440].map((f) => harmonicTone(0.7, 48000, f, 0.3));
  const three = await models.seed.separate(short, 48000);
  assertStemsSum(three, short, 48000, "three channels, shorter than a window");
  await assert.rejects(
    models.native.separate([input, input.subarray(1)], rate, { name: "x.wav" }),
    /x\.wav: channel 1 has 68354 samples, channel 0 has 68355; channels must be equally long/,
  );
});

/** Parses a command line in this process; the CLI's own errors reject without printing. */
async function parse(...args: string[]): Promise<void> {
  const program = buildProgram();
  program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  await program.parseAsync(["node", "stemscope", ...args]);
}

test("stemscope separate writes 44.1 kHz stereo stems (--stem-format model: 16 kHz mono) that sum to the input", async () => {
  const rate = 44100;
  const left = harmonicTone(3, rate, 330, 0.3).map(
    (v, i) => v + 0.05 * Math.sin((2 * Math.PI * 11000 * i) / rate),
  );
  const right = harmonicTone(3, rate, 523, 0.3);
  const song = join(dir, "song.wav");
  writeFileSync(song, encodeWav([left, right], rate, { encoding: "float32" }).bytes);
  const modelDir = join(dir, "native");
  const out = join(dir, "separated");
  await parse("separate", song, "--model", modelDir, "--out", out, "--float32", "--quiet");
  await parse(
    "separate",
    song,
    "--model",
    modelDir,
    "--out",
    join(dir, "model-rate"),
    "--stem-format",
    "model",
    "--quiet",
  );
  const predictions = JSON.parse(readFileSync(join(out, "song", "predictions.json"), "utf8")) as {
    stemSampleRate: number;
    stemChannels: number;
    stems: { file: string }[];
  };
  assert.equal(predictions.stemSampleRate, rate);
  assert.equal(predictions.stemChannels, 2);
  const stems = await Promise.all(predictions.stems.map((s) => decodeAudioFile(join(out, "song", s.file))));
  for (const stem of stems) {
    assert.equal(stem.sampleRate, rate);
    assert.equal(stem.channels.length, 2);
  }
  [left, right].forEach((channel, c) => {
    const { error } = sumError(
      stems.map((s) => s.channels[c]!),
      channel,
    );
    assert.ok(error < 1e-5, `channel ${c}: the stems sum to it, error ${error}`);
  });
  const sum = stems[0]!.channels[0]!.map((v, i) => v + stems[1]!.channels[0]![i]!);
  assert.ok(amplitudeAt(sum, rate, 11000, rate / 2, sum.length - rate / 2) > 0.049, "11 kHz kept");
  const modelRate = JSON.parse(readFileSync(join(dir, "model-rate", "song", "predictions.json"), "utf8")) as {
    stemSampleRate: number;
    stemChannels: number;
    stems: { file: string }[];
  };
  assert.deepEqual([modelRate.stemSampleRate, modelRate.stemChannels], [16000, 1]);
  const old = await decodeAudioFile(join(dir, "model-rate", "song", modelRate.stems[0]!.file));
  assert.deepEqual([old.sampleRate, old.channels.length, old.channels[0]!.length], [16000, 1, 48000]);
  await assert.rejects(
    parse("separate", song, "--model", modelDir, "--out", out, "--stem-format", "44100"),
    /--stem-format must be one of input, model, got "44100"/,
  );
});
