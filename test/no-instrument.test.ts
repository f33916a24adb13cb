// "No instrument" (issue 13 item 10): silence, DC and noise are recognised before the model runs
// (levels and flatness checked against the Butterworth response and e^−γ), a model folder's
// calibrated rule rejects what its outputs call none of the classes (speech from espeak-ng), predict
// says so with exit 0 in a batch, separate writes the input as its one stem, and music stays named.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { decodeWav, encodeWav } from "../src/audio/index.js";
import { evaluate } from "../src/eval/index.js";
import {
  audibleDb,
  defaultModelDir,
  INFRASONIC_HZ,
  loadModel,
  NO_INSTRUMENT_STEM,
  type StemscopeModel,
} from "../src/infer/index.js";
import { spectralFlatness } from "../src/infer/level.js";
import { readModelConfig, writeModelConfig } from "../src/model/folder.js";
import { chooseNoneThreshold, rejectsAsNone, sourceEntropy } from "../src/separator/naming.js";
import { Random } from "../src/util/random.js";
import { hasEspeak, speech, whiteNoise } from "../scripts/calibrate-none.js";
import { makeModelFolder } from "./infer-helpers.js";
import { type CliRun, runCli } from "./cli-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-none-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const rate = 16000;
const sine = (seconds: number, hz: number, amplitude: number, offset = 0): Float32Array =>
  Float32Array.from(
    { length: Math.round(seconds * rate) },
    (_, i) => offset + amplitude * Math.sin((2 * Math.PI * hz * i) / rate),
  );
const db = (amplitude: number): number => 20 * Math.log10(amplitude / Math.SQRT2);

test("audibleDb: DC and drift are gone, a tone keeps its RMS, the stop band follows the 4th-order Butterworth", () => {
  assert.equal(audibleDb(new Float32Array(rate * 2).fill(0.96), rate), -Infinity);
  assert.equal(audibleDb(new Float32Array(rate * 2), rate), -Infinity);
  assert.ok(audibleDb(sine(2, 2, 0.3, -0.5), rate) < -85, "a 2 Hz drift on a DC offset");
  for (const [hz, amplitude] of [
    [440, 0.004],
    [100, 0.5],
    [41.2, 0.8], // a bass's low E
  ] as const) {
    const level = audibleDb(sine(2, hz, amplitude), rate);
    // |H(f)| = 1 / sqrt(1 + (fc/f)^8)
    const expected = db(amplitude) - 10 * Math.log10(1 + (INFRASONIC_HZ / hz) ** 8);
    assert.ok(Math.abs(level - expected) < 0.1, `${hz} Hz: ${level} dB, expected ${expected}`);
  }
  const tenHz = audibleDb(sine(4, 10, 0.9), rate);
  const expected = db(0.9) - 10 * Math.log10(1 + 2 ** 8);
  assert.ok(Math.abs(tenHz - expected) < 0.3, `10 Hz: ${tenHz} dB, expected ${expected}`);
  // a window later in the audio is judged by its own samples, its filter settled before it
  const music = new Float32Array(rate * 4).fill(0.5);
  music.set(sine(2, 440, 0.2, 0.5), 0);
  assert.equal(audibleDb(music, rate, 2 * rate, 4 * rate), -Infinity);
  assert.ok(Math.abs(audibleDb(music, rate, 0, 2 * rate) - db(0.2)) < 0.1);
});

test("spectralFlatness: white noise e^−γ, a tone and a chord near 0, silence 0", () => {
  const white = whiteNoise(new Random(3), 2, rate, -20);
  // the periodogram of white noise is exponential: E[ln P] − ln E[P] = −γ (Hann frames: close to it)
  assert.ok(Math.abs(spectralFlatness(white, rate) - Math.exp(-0.5772156649)) < 0.03);
  assert.ok(spectralFlatness(sine(2, 440, 0.5), rate) < 1e-3);
  const chord = sine(2, 220, 0.2).map((v, i) => v + 0.1 * Math.sin((2 * Math.PI * 330 * i) / rate));
  assert.ok(spectralFlatness(chord, rate) < 1e-3);
  assert.equal(spectralFlatness(new Float32Array(2 * rate), rate), 0);
});

test("naming rule: entropy of sure and uniform sources, the calibrated threshold keeps every music value", () => {
  assert.equal(sourceEntropy([1, 0, 0, 0, 0, 1], 3), 0);
  assert.ok(Math.abs(sourceEntropy([1 / 3, 1 / 3, 1 / 3], 3) - 1) < 1e-12);
  const play = chooseNoneThreshold("play", [0.9, 0.6, 0.75], [0.3, 0.95, 0.5]);
  assert.deepEqual(play, {
    statistic: "play",
    threshold: 0.55,
    music: 3,
    musicNamed: 3,
    nonMusic: 3,
    nonMusicRejected: 2,
  });
  const entropy = chooseNoneThreshold("entropy", [0.2, 0.4], [0.8, 0.3, 0.6]);
  assert.ok(Math.abs(entropy.threshold - 0.5) < 1e-12);
  assert.equal(entropy.nonMusicRejected, 2);
  assert.ok(rejectsAsNone(entropy, 0.6) && !rejectsAsNone(entropy, 0.4));
  // nothing separable: a threshold that rejects nothing
  const none = chooseNoneThreshold("play", [0.5, 0.9], [0.95]);
  assert.equal(none.threshold, 0);
  assert.equal(none.nonMusicRejected, 0);
});

const haveModel = existsSync(join(defaultModelDir(), "weights.safetensors"));

/** Counts the model's forward passes. */
function countForwards(model: StemscopeModel): () => number {
  let calls = 0;
  const forward = model.runner.forward.bind(model.runner);
  model.runner.forward = (...args) => {
    calls++;
    return forward(...args);
  };
  return () => calls;
}

test(
  "default model: silence, DC and white noise are no instrument without a forward pass; music is named as before",
  { skip: !haveModel && "needs models/default" },
  async () => {
    const model = await loadModel();
    const forwards = countForwards(model);
    try {
      const cases = [
        [
          "silence",
          new Float32Array(3 * rate),
          "silence",
          /silent: every window is below -60 dBFS RMS \(loudest digital silence\)/,
        ],
        [
          "DC",
          new Float32Array(3 * rate).fill(0.96),
          "dc",
          /only DC or infrasound \(below 20 Hz\): up to -0\.4 dBFS RMS/,
        ],
        ["drift", sine(3, 3, 0.4, -0.3), "dc", /only DC or infrasound/],
        [
          "white noise",
          whiteNoise(new Random(1), 3, rate, -12),
          "noise",
          /noise-like: every audible window's spectral flatness is above 0\.2/,
        ],
      ] as const;
      for (const [name, samples, reason, detail] of cases) {
        const p = await model.predict(samples, rate, { name });
        assert.equal(p.noInstrument?.reason, reason, name);
        assert.match(p.noInstrument.detail, detail);
        assert.deepEqual(p.instruments, [], `${name}: nothing named`);
        assert.equal(p.namingStatistics, null);
        assert.equal(p.windows.length, 2);
      }
      assert.equal(forwards(), 0, "the model never ran");
      // a file of music with a silent second half: named from its music, the rest not counted
      const ex = decodeWav(readFileSync(join("examples", "bass+flute.wav")), "bass+flute.wav");
      const half = new Float32Array(ex.channels[0]!.length * 2);
      half.set(ex.channels[0]!);
      const p = await model.predict(half, ex.sampleRate);
      assert.equal(p.noInstrument, null);
      assert.deepEqual(
        p.instruments
          .slice(0, 2)
          .map((i) => i.name)
          .sort(),
        ["bass", "flute"],
      );
      assert.ok(p.windows.some((w) => w.silent) && p.windows.some((w) => !w.silent));
      assert.ok(forwards() > 0);
    } finally {
      model.dispose();
    }
  },
);

test(
  "a calibrated rule rejects speech as none of the classes; the examples stay named right; predict and separate agree",
  {
    skip:
      (!haveModel && "needs models/default") ||
      (!hasEspeak() && "espeak-ng is not installed (scripts/setup.sh)"),
  },
  async (t) => {
    const [spoken] = speech(1);
    const expected = JSON.parse(readFileSync(join("examples", "expected.json"), "utf8")) as Record<
      string,
      { instruments: string[] }
    >;
    const plain = await loadModel();
    const examplePlay: number[] = [];
    let speechPlay: number;
    try {
      const p = await plain.predict(spoken!.samples, spoken!.sampleRate);
      assert.equal(p.noInstrument, null, "no rule: speech is named, as before");
      speechPlay = p.namingStatistics!.play;
      assert.equal(speechPlay, p.instruments[0]!.probability);
      for (const name of Object.keys(expected)) {
        examplePlay.push((await plain.predictFile(join("examples", name))).namingStatistics!.play);
      }
    } finally {
      plain.dispose();
    }
    // the rule calibrate-none would choose on these files, written into a copy of the folder
    const calibration = chooseNoneThreshold("play", examplePlay, [speechPlay]);
    const folder = join(dir, "model");
    cpSync(defaultModelDir(), folder, { recursive: true });
    const { statistic, threshold, ...counts } = calibration;
    await writeModelConfig(folder, {
      ...readModelConfig(folder),
      naming: { none: { statistic, threshold, calibration: counts } },
    });
    assert.deepEqual(readModelConfig(folder).naming?.none.threshold, threshold);
    const model = await loadModel(folder);
    try {
      for (const [name, e] of Object.entries(expected)) {
        const p = await model.predictFile(join("examples", name));
        assert.equal(p.noInstrument, null, name);
        assert.deepEqual(
          p.instruments
            .slice(0, e.instruments.length)
            .map((i) => i.name)
            .sort(),
          [...e.instruments].sort(),
        );
      }
      if (calibration.nonMusicRejected === 0) {
        t.skip(`this model names the speech (play ${speechPlay.toFixed(3)}) more surely than an example`);
        return;
      }
      const p = await model.predict(spoken!.samples, spoken!.sampleRate);
      assert.equal(p.noInstrument?.reason, "not-music");
      assert.match(
        p.noInstrument.detail,
        /none of the classes: the highest play probability 0\.\d{3} is below this model's calibrated 0\.\d{3}/,
      );
      const s = await model.separate(spoken!.samples, spoken!.sampleRate);
      assert.deepEqual(s.prediction.noInstrument, p.noInstrument);
      assert.deepEqual(
        s.stems.map((x) => x.name),
        [NO_INSTRUMENT_STEM],
      );
      assert.equal(s.stems[0]!.channels[0], s.mixture[0], "the one stem is the input");
    } finally {
      model.dispose();
    }
  },
);

/** Runs the real CLI entry in a child process. */
function cli(...args: string[]): CliRun {
  return runCli(args, { env: { STEMSCOPE_THREADS: "1" } });
}

test(
  "CLI: a batch with silence, DC and noise exits 0 and says no instrument; separate writes the silent input as its one stem",
  { skip: !haveModel && "needs models/default" },
  () => {
    const files = {
      silent: new Float32Array(2 * rate),
      dc: new Float32Array(2 * rate).fill(0.96),
      noise: whiteNoise(new Random(2), 2, rate, -15),
    };
    for (const [name, samples] of Object.entries(files))
      writeFileSync(join(dir, `${name}.wav`), encodeWav(samples, rate).bytes);
    const paths = Object.keys(files).map((name) => join(dir, `${name}.wav`));
    const music = join("examples", "piano+violin.wav");
    const text = cli("predict", ...paths, music);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /silent\.wav: 2\.0 s, 1 window\n {2}no instrument: silent: /);
    assert.match(text.stdout, /dc\.wav: 2\.0 s, 1 window\n {2}no instrument: only DC or infrasound/);
    assert.match(text.stdout, /noise\.wav: 2\.0 s, 1 window\n {2}no instrument: noise-like/);
    assert.match(text.stdout, /piano\+violin\.wav: 4\.0 s, 3 windows\n {2}\w+ +0\.\d{3}\n/);
    const json = cli("predict", "--json", ...paths);
    assert.equal(json.code, 0, json.stderr);
    const records = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { noInstrument: { reason: string } | null; instruments: unknown[] });
    assert.deepEqual(
      records.map((r) => r.noInstrument?.reason),
      ["silence", "dc", "noise"],
    );
    assert.deepEqual(
      records.map((r) => r.instruments.length),
      [0, 0, 0],
    );

    const out = join(dir, "separated");
    const sep = cli("separate", paths[0]!, "--out", out, "--quiet");
    assert.equal(sep.code, 0, sep.stderr);
    assert.match(
      sep.stdout,
      /silent\.wav: no instrument \(silent: .*\); .*silent\/no-instrument\.wav is the input/,
    );
    const stem = decodeWav(readFileSync(join(out, "silent", "no-instrument.wav")), "stem");
    assert.equal(stem.channels[0]!.length, 2 * rate);
    assert.ok(
      stem.channels[0]!.every((v) => v === 0),
      "a silent stem",
    );
    const record = JSON.parse(readFileSync(join(out, "silent", "predictions.json"), "utf8")) as {
      noInstrument: { reason: string };
      stems: { name: string }[];
    };
    assert.equal(record.noInstrument.reason, "silence");
    assert.deepEqual(
      record.stems.map((s) => s.name),
      [NO_INSTRUMENT_STEM],
    );
  },
);

test("eval applies the folder's naming.none rule as predict does: rejected mixtures name nothing, counted in namedNone", async () => {
  const root = join(dir, "eval");
  const data = join(root, "data");
  const classes = ["cello", "flute", "piano"];
  const lines: string[] = [];
  for (let i = 0; i < 3; i++) {
    const labels = [classes[i]!, classes[(i + 1) % 3]!].sort();
    const s1 = sine(2, 131 * (i + 1), 0.3);
    const s2 = sine(2, 587, 0.2);
    const sample = join(data, `sample_${i}`);
    mkdirSync(sample, { recursive: true });
    writeFileSync(join(sample, "source1.wav"), encodeWav(s1, rate).bytes);
    writeFileSync(join(sample, "source2.wav"), encodeWav(s2, rate).bytes);
    writeFileSync(
      join(sample, "mixed.wav"),
      encodeWav(
        s1.map((v, j) => v + s2[j]!),
        rate,
      ).bytes,
    );
    const d = `./data/sample_${i}`;
    lines.push(`${d}/mixed.wav ${d}/source1.wav ${d}/source2.wav ${labels.join(" ")}`);
  }
  writeFileSync(join(data, "labels.txt"), `${lines.join("\n")}\n`);
  const folder = await makeModelFolder(join(root, "model"), { classes, mode: "native" });
  const withRule = async (threshold: number | undefined) => {
    const config = readModelConfig(folder);
    const { naming: _, ...rest } = config;
    await writeModelConfig(
      folder,
      threshold === undefined ? rest : { ...rest, naming: { none: { statistic: "play", threshold } } },
    );
    const model = await loadModel(folder);
    try {
      const metrics = await evaluate(model, data, { subset: "all", audio: false });
      const predicted = await model.predictFile(join(data, "sample_0", "mixed.wav"));
      return { c: metrics.classification, predicted };
    } finally {
      model.dispose();
    }
  };
  const plain = await withRule(undefined);
  assert.equal(plain.c.namedNone, undefined);
  const never = await withRule(0);
  assert.equal(never.c.namedNone, 0);
  assert.equal(never.c.namedAccuracy, plain.c.namedAccuracy);
  // play < 1 for every mixture a softmax model sees: all rejected, by eval and by predict
  const always = await withRule(1);
  assert.equal(always.c.namedNone, 1);
  assert.equal(always.c.namedAccuracy, 0);
  assert.equal(always.c.namedExactMatch, 0);
  assert.equal(always.c.perSourceAccuracy, plain.c.perSourceAccuracy, "per-source scores do not change");
  assert.equal(always.predicted.noInstrument?.reason, "not-music");
  assert.equal(never.predicted.noInstrument, null);
});
