import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { resample } from "../src/audio/index.js";
import { DEFAULT_CLASSES, mainProgram, resolveSoundfonts } from "../src/data/synth/instruments.js";
import { loadSources } from "../src/data/synth/sources/load.js";
import { applyChorus, applyReverb } from "../src/data/synth/effects.js";
import { ClipRenderer, DECIMATION_FILTER, planClip } from "../src/data/synth/render.js";
import { Random } from "../src/util/random.js";

const TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2";
const skip = existsSync(TIMGM) ? false : `${TIMGM} is not installed (apt-get install timgm6mb-soundfont)`;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 100; k++) {
    term *= (x * x) / 4 / (k * k);
    sum += term;
  }
  return sum;
}

test("resample 32 → 16 kHz (decimation path) equals the direct windowed-sinc sum", () => {
  const n = 301;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(0.37 * i) + 0.5 * Math.cos(1.9 * i);
  const { zeroCrossings, rolloff, beta } = DECIMATION_FILTER;
  const y = resample(x, 32000, 16000, DECIMATION_FILTER);
  assert.equal(y.length, 151);
  // Independent evaluation: y[m] = Σ_k h(2m − k) x[k], h(t) = c·sinc(c·t)·I0(β√(1 − (t/half)²))/I0(β).
  const c = rolloff * 0.5;
  const half = zeroCrossings / c;
  const h = (t: number): number => {
    const r = t / half;
    if (Math.abs(r) >= 1) return 0;
    const a = Math.PI * c * t;
    return c * (t === 0 ? 1 : Math.sin(a) / a) * (besselI0(beta * Math.sqrt(1 - r * r)) / besselI0(beta));
  };
  const TOLERANCE = 1e-6;
  for (const m of [0, 1, 10, 40, 75, 120, 149, 150]) {
    let want = 0;
    for (let k = 0; k < n; k++) want += h(2 * m - k) * x[k]!;
    assert.ok(Math.abs(y[m]! - want) < TOLERANCE, `y[${m}] = ${y[m]}, expected ${want}`);
  }
});

test("synth effects: amount 0 changes nothing; reverb and chorus are deterministic and bounded", () => {
  const rate = 16000;
  const impulse = new Float32Array(rate);
  impulse[100] = 1;
  const dry = impulse.slice();
  applyReverb(dry, rate, 0);
  applyChorus(dry, rate, 0);
  assert.deepEqual(dry, impulse);

  const wet = impulse.slice();
  applyReverb(wet, rate, 127);
  const again = impulse.slice();
  applyReverb(again, rate, 127);
  assert.deepEqual(wet, again);
  assert.equal(wet[100], 1); // dry path untouched, the first comb echo comes later
  // Tail: nothing before the shortest comb delay (1116 samples at 44.1 kHz = 405 at 16 kHz), energy
  // after it, decaying (the last 0.25 s much quieter than the 0.25 s after the onset).
  const energy = (a: number, b: number): number => {
    let e = 0;
    for (let i = a; i < b; i++) e += wet[i]! ** 2;
    return e;
  };
  assert.equal(energy(101, 100 + 405), 0);
  assert.ok(energy(100 + 405, 1000) > 0);
  assert.ok(energy(rate * 0.75, rate) < 0.01 * energy(500, 4500));
  assert.ok(wet.every((v) => Math.abs(v) <= 1));

  // Chorus of a constant: x + (amount/127)·x once past the longest delay (14.5 ms).
  const ones = new Float32Array(rate).fill(0.5);
  applyChorus(ones, rate, 127);
  assert.ok(Math.abs(ones[rate - 1]! - 1) < 1e-6);
  assert.equal(ones[0], 0.5); // before the first delayed sample
});

test("ClipRenderer: a reused synthesizer renders the same bytes as a fresh one", { skip }, async () => {
  const sources = await loadSources(
    [
      { group: "timgm6mb", kind: "soundfont", weight: 1, path: TIMGM },
      { group: "physical", kind: "model", weight: 1, path: "builtin" },
    ],
    DEFAULT_CLASSES,
  );
  const reused = new ClipRenderer();
  let checked = 0;
  for (const [c, cls] of DEFAULT_CLASSES.entries()) {
    for (let k = 0; k < 2; k++) {
      const label = `${cls.name}:${k}`;
      const plan = planClip(new Random(11).fork(label), cls, sources.timbres[c]!, 0.75, { label });
      const bank = sources.banks.get(plan.preset.group);
      const a = reused.render(bank, plan, 0.75, 16000);
      const b = new ClipRenderer().render(bank, plan, 0.75, 16000);
      assert.equal(a.length, 12000);
      assert.deepEqual(
        a,
        b,
        `${cls.name} clip ${k} (${plan.preset.name}, ${plan.pattern}) differs after reuse`,
      );
      checked++;
    }
  }
  assert.equal(checked, 20);
});

const MUSESCORE = resolveSoundfonts(["musescore"])[0]!.path;
test(
  "SF3 (Ogg Vorbis) banks sound for every default class: the decoder is awaited before the first render",
  {
    skip: existsSync(MUSESCORE)
      ? false
      : `${MUSESCORE} is not installed (apt-get install musescore-general-soundfont)`,
  },
  async () => {
    // Before the fix, every MuseScore sample decoded to zeros whenever rendering began before the
    // WebAssembly Vorbis decoder had started, so its clips were silent and re-drawn from other banks.
    const sources = await loadSources(
      [{ group: "musescore", kind: "soundfont", weight: 1, path: MUSESCORE }],
      DEFAULT_CLASSES,
    );
    const bank = sources.banks.get("musescore")!;
    const renderer = new ClipRenderer();
    for (const [c, cls] of DEFAULT_CLASSES.entries()) {
      const program = mainProgram(cls);
      const preset = sources.timbres[c]![0]!.presets.find((p) => p.bank === 0 && p.program === program);
      assert.ok(preset !== undefined, `MuseScore has no bank-0 preset of ${cls.name}'s program ${program}`);
      const note = Math.round((cls.range[0] + cls.range[1]) / 2);
      const plan = {
        ...planClip(new Random(3).fork(cls.name), cls, sources.timbres[c]!, 1, { transforms: false }),
        preset,
        notes: [{ note, start: 0, duration: 0.5 }],
        velocity: 100,
        bendSemitones: 0,
      };
      const audio = renderer.render(bank, plan, 1, 16000);
      let peak = 0;
      for (const v of audio) peak = Math.max(peak, Math.abs(v));
      assert.ok(peak > 0.01, `${cls.name} (program ${program}, note ${note}) rendered silent: peak ${peak}`);
    }
  },
);
