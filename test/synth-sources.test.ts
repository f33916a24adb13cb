import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeWav } from "../src/audio/index.js";
import { DEFAULT_CLASSES, type InstrumentClass, type ModelKind } from "../src/data/synth/instruments.js";
import { readManifest } from "../src/data/formats/manifest.js";
import { MT32_BANK, soundfontPresets } from "../src/data/synth/sources/catalogue.js";
import { SOURCE_GROUPS } from "../src/data/synth/sources/groups.js";
import { drawModelParams, renderModel } from "../src/data/synth/sources/physical.js";
import { buildSalamander } from "../src/data/synth/sources/sample-banks.js";
import { decodeWavPack } from "../src/data/synth/sources/wavpack.js";
import { readStoredZip } from "../src/data/synth/sources/zip.js";
import {
  loadSoundBank,
  loadSoundBankBytes,
  ClipRenderer,
  planClip,
  RENDER_RATE,
} from "../src/data/synth/render.js";
import { applyEq, applySaturation, roomImpulseResponse } from "../src/data/synth/transforms.js";
import { synthesize } from "../src/data/synth/synth.js";
import { Random } from "../src/util/random.js";
import { fundamental, hashTree, tempDir } from "./data-helpers.js";

const cls = (name: string): InstrumentClass => DEFAULT_CLASSES.find((c) => c.name === name)!;
const installed = (group: string): string | false => {
  const g = SOURCE_GROUPS.find((x) => x.id === group)!;
  return g.locate() === undefined ? `${group} is not installed (${g.install})` : false;
};

const cents = (hz: number, note: number): number => 1200 * Math.log2(hz / (440 * 2 ** ((note - 69) / 12)));

function renderNote(model: ModelKind, className: string, note: number, seed: number): Float32Array {
  const rng = new Random(seed).fork(`${model}:${note}`);
  const params = drawModelParams(rng.fork("params"), model, className);
  const notes = [{ note, start: 0, duration: 1.8 }];
  return renderModel(
    { model, notes, velocity: 100, pitchAt: () => 0, params },
    2,
    RENDER_RATE,
    rng.fork("noise"),
  );
}

test("physical models sound the asked pitch: plucked within 0.5 cents, reeds, bows and jets within cents", () => {
  // Tolerances from the models' nature: the Karplus-Strong loop is linear and tuned exactly by phase
  // delay; the bow's friction, the reed's and the jet's nonlinearity pull the pitch a little (worst
  // over 40–80 draws each: bowed 5.4, clarinet 4.2, saxophone 2.7, flute 28 cents; these notes stay
  // within the bounds below). The bowed string sounds the octave in about 5 % of draws (4 of 80):
  // allowed once in 12.
  const cases: [ModelKind, string, number[], number, number][] = [
    ["plucked", "guitar", [40, 57, 76], 0.5, 0],
    ["plucked", "bass", [28, 43], 0.5, 0],
    ["bowed", "violin", [62, 74, 86], 8, 1],
    ["bowed", "cello", [36, 50, 64], 8, 1],
    ["clarinet", "clarinet", [50, 65, 80], 6, 0],
    ["saxophone", "saxophone", [49, 61, 73], 8, 0],
    ["flute", "flute", [62, 74, 86], 20, 0],
  ];
  const octaves = new Map<string, number>();
  for (const [model, className, notes, tolerance, allowedOctaves] of cases) {
    for (const note of notes) {
      for (const seed of [1, 2]) {
        const x = renderNote(model, className, note, seed);
        const { hz, half } = fundamental(x, RENDER_RATE, 440 * 2 ** ((note - 69) / 12));
        if (half >= 0.9) {
          const count = (octaves.get(model) ?? 0) + 1;
          octaves.set(model, count);
          assert.ok(
            count <= allowedOctaves,
            `${model} note ${note} seed ${seed}: sounds the octave (ac(P/2)/ac(P) = ${half.toFixed(2)})`,
          );
          continue;
        }
        const c = cents(hz, note);
        assert.ok(Math.abs(c) <= tolerance, `${model} note ${note} seed ${seed}: ${c.toFixed(2)} cents off`);
      }
    }
  }
});

test("physical models: same plan, same samples; another seed, another instrument", () => {
  const a = renderNote("bowed", "violin", 67, 5);
  const b = renderNote("bowed", "violin", 67, 5);
  const c = renderNote("bowed", "violin", 67, 6);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test(
  "formant shift: the same pitch from a sample a few keys away moves the spectral centroid the other way",
  { skip: installed("salamander") },
  async () => {
    // A three-sample Salamander: zones C4 [0–61], D#4 [62–64], F#4 [65–127]. D4 (62) as recorded
    // plays D#4 a semitone down; with k = +3 (key 65) F#4 four semitones down (formants lower, like a
    // larger instrument); with k = −2 (key 60) C4 two semitones up (formants higher).
    const dir = join(tempDir(), "salamander");
    mkdirSync(dir);
    const source = SOURCE_GROUPS.find((g) => g.id === "salamander")!.locate()!;
    for (const f of ["C4v10.ogg", "D#4v10.ogg", "F#4v10.ogg"]) copyFileSync(join(source, f), join(dir, f));
    const built = await buildSalamander(dir);
    const bank = await loadSoundBankBytes(built.bytes, "salamander");
    const piano = cls("piano");
    const preset = {
      group: "salamander",
      kind: "samples" as const,
      bank: 0,
      program: 0,
      gm: 0,
      name: "Salamander Grand",
      weight: 1,
      range: piano.range,
    };
    const base = planClip(
      new Random(1),
      piano,
      [{ group: "salamander", weight: 1, presets: [preset] }],
      1.5,
      { transforms: false },
    );
    const renderer = new ClipRenderer();
    const render = (k: number): Float32Array =>
      renderer.render(
        bank,
        {
          ...base,
          notes: [{ note: 62, start: 0, duration: 1.4 }],
          velocity: 100,
          vibrato: 0,
          bendSemitones: 0,
          chorus: 0,
          reverb: 0,
          transforms: { ...base.transforms, formantShift: k },
        },
        1.5,
        RENDER_RATE,
      );
    const centroid = (x: Float32Array): number => {
      // Σ f·|X(f)|² / Σ |X(f)|² over 0.1–0.6 s by a direct DFT on a 4096-point Hann window.
      const n = 4096;
      const start = Math.round(0.1 * RENDER_RATE);
      let num = 0;
      let den = 0;
      for (let k = 1; k < n / 2; k += 2) {
        let re = 0;
        let im = 0;
        for (let i = 0; i < n; i++) {
          const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
          const v = x[start + i]! * w;
          re += v * Math.cos((2 * Math.PI * k * i) / n);
          im -= v * Math.sin((2 * Math.PI * k * i) / n);
        }
        const p = re * re + im * im;
        num += ((k * RENDER_RATE) / n) * p;
        den += p;
      }
      return num / den;
    };
    const [down, same, up] = [render(3), render(0), render(-2)];
    const c = [centroid(down), centroid(same), centroid(up)];
    assert.ok(
      c[0]! < c[1]! && c[1]! < c[2]!,
      `centroids ${c.map((v) => v.toFixed(0)).join(" < ")} Hz expected ascending`,
    );
    // The pitch stays: the fundamental of each render is D4 within 5 cents.
    for (const x of [down, same, up]) {
      const { hz } = fundamental(x, RENDER_RATE, 293.66);
      assert.ok(Math.abs(cents(hz, 62)) < 5, `fundamental ${hz.toFixed(2)} Hz, expected D4 (293.66 Hz)`);
    }
  },
);

test(
  "GrandOrgue: a WavPack pipe decodes to the length its block header states, 44.1 kHz, with loop and unity note",
  { skip: installed("grandorgue") },
  () => {
    const path = SOURCE_GROUPS.find((g) => g.id === "grandorgue")!.locate()!;
    const members = readStoredZip(readFileSync(path), path);
    const pipe = members.find((m) => m.name === "Bourdon8/042-F#.wav")!;
    assert.ok(pipe !== undefined, "Bourdon8/042-F#.wav not in the package");
    // WavPack block header (independent of wvunpack): "wvpk", size, version, track, index, total_samples.
    const view = new DataView(pipe.data.buffer, pipe.data.byteOffset, pipe.data.byteLength);
    assert.equal(String.fromCharCode(...pipe.data.subarray(0, 4)), "wvpk");
    const totalSamples = view.getUint32(12, true);
    const rateIndex = (view.getUint32(24, true) >>> 23) & 0xf; // 9 = 44100 Hz in WavPack's rate table
    assert.equal(rateIndex, 9);
    const decoded = decodeWavPack(pipe.data, pipe.name);
    assert.equal(decoded.sampleRate, 44100);
    assert.equal(decoded.channels.length, 2);
    assert.equal(decoded.channels[0]!.length, totalSamples);
    assert.equal(decoded.unityNote, 42);
    const [loopStart, loopEnd] = decoded.loop!;
    assert.ok(
      loopStart > 0 && loopEnd <= totalSamples && loopEnd - loopStart > 4410,
      `loop ${loopStart}–${loopEnd}`,
    );
    // The pipe sounds F#2 (92.5 Hz) within 25 cents (the recording's own tuning).
    const mono = Float32Array.from(decoded.channels[0]!, (v, i) => 0.5 * (v + decoded.channels[1]![i]!));
    const { hz } = fundamental(mono, 44100, 92.5);
    assert.ok(Math.abs(cents(hz, 42)) < 25, `pipe at ${hz.toFixed(2)} Hz`);
  },
);

test(
  "A320U's MT-32 bank 127 gives extra flute, clarinet, sax, trumpet and bass presets that render",
  { skip: installed("a320u") },
  async () => {
    const path = SOURCE_GROUPS.find((g) => g.id === "a320u")!.locate()!;
    const bank = await loadSoundBank(path);
    const mt32 = (name: string): string[] =>
      soundfontPresets(bank, "a320u", cls(name))
        .filter((p) => p.bank === MT32_BANK)
        .map((p) => p.name);
    assert.deepEqual(mt32("clarinet"), ["Clarinet 1", "Clarinet 2"]);
    assert.deepEqual(mt32("flute"), [
      "Flute 1",
      "Flute 2",
      "Piccolo 1",
      "Piccolo 2",
      "Recorder MT",
      "Pan Pipes MT",
    ]);
    assert.deepEqual(mt32("saxophone"), ["Sax 1", "Sax 2", "Sax 3", "Sax 4"]);
    assert.deepEqual(mt32("trumpet"), ["Trumpet 1", "Trumpet 2"]);
    assert.equal(mt32("bass").length, 8);
    // Bank 127 programs 0–7 are pianos there, not GM's: the catalogue must not take its program 16
    // (Harpsichord 1) for an organ.
    assert.ok(!soundfontPresets(bank, "a320u", cls("organ")).some((p) => p.name.startsWith("Harpsichord")));
    const clarinet = cls("clarinet");
    const presets = soundfontPresets(bank, "a320u", clarinet).filter((p) => p.bank === MT32_BANK);
    const renderer = new ClipRenderer();
    for (const preset of presets) {
      const plan = planClip(new Random(2), clarinet, [{ group: "a320u", weight: 1, presets: [preset] }], 1, {
        transforms: false,
      });
      assert.equal(plan.preset, preset);
      const x = renderer.render(bank, plan, 1, 16000); // throws if the synth picked another preset
      let peak = 0;
      for (const v of x) peak = Math.max(peak, Math.abs(v));
      assert.ok(peak > 0.005, `${preset.name}: silent`);
    }
  },
);

test("synth transforms: EQ peak gain at its centre, saturation keeps the peak, room DRR as drawn", () => {
  const rate = 16000;
  const sine = (hz: number): Float32Array =>
    Float32Array.from({ length: rate }, (_, i) => Math.sin((2 * Math.PI * hz * i) / rate));
  const rms = (x: Float32Array): number =>
    Math.sqrt(x.subarray(rate / 2).reduce((s, v) => s + v * v, 0) / (rate / 2));
  for (const gainDb of [-9, 6]) {
    const x = sine(1000);
    applyEq(x, rate, [{ type: "peak", freq: 1000, gainDb, q: 2 }]);
    assert.ok(Math.abs(20 * Math.log10(rms(x) / Math.SQRT1_2) - gainDb) < 0.05, `peak ${gainDb} dB`);
    const far = sine(4000);
    applyEq(far, rate, [{ type: "peak", freq: 1000, gainDb, q: 2 }]);
    assert.ok(
      Math.abs(20 * Math.log10(rms(far) / Math.SQRT1_2)) < 0.5,
      "4 kHz barely touched by a 1 kHz peak",
    );
  }
  const s = sine(200);
  applySaturation(s, 3);
  assert.ok(Math.abs(Math.max(...s) - 1) < 1e-6);
  assert.ok(rms(s) > Math.SQRT1_2 * 1.1, "saturation raises the RMS of a sine");
  const h = roomImpulseResponse({ rt60: 0.6, drrDb: 6, predelay: 0.01, damping: 0.5, seed: "r" }, rate);
  assert.equal(h[0], 1);
  let tail = 0;
  for (let i = 1; i < h.length; i++) tail += h[i]! ** 2;
  assert.ok(Math.abs(10 * Math.log10(1 / tail) - 6) < 1e-9, "direct-to-reverberant ratio 6 dB");
  assert.equal(h.length, Math.round(0.72 * rate));
});

const smallSources = ["timgm6mb", "sonicpi", "physical"];
test(
  "synth: manifest names group, source, preset and transforms; --exclude leaves a group out; same bytes for any --jobs",
  { skip: smallSources.map(installed).find((x) => x !== false) ?? false },
  async () => {
    const root = tempDir();
    const config = {
      classes: ["guitar", "violin"],
      perClass: 8,
      seconds: 0.5,
      sources: smallSources,
      seed: 7,
    };
    await synthesize({ ...config, outDir: join(root, "one") }, { jobs: 1 });
    const manifest = readManifest(join(root, "one"))!;
    assert.equal(manifest.length, 16);
    const kinds: Record<string, string> = { timgm6mb: "soundfont", sonicpi: "samples", physical: "model" };
    for (const e of manifest) {
      assert.ok(smallSources.includes(e.group!), `group ${e.group}`);
      assert.equal(e.soundfont, e.group);
      assert.equal(e.source, kinds[e.group!]);
      if (e.group === "physical") {
        assert.equal(e.preset!.name, e.class === "guitar" ? "plucked model" : "bowed model");
        assert.equal(e.model!.kind, e.class === "guitar" ? "plucked" : "bowed");
        // Sound controllers and the sampler's formant shift do not act on models: not listed.
        for (const key of ["formantShift", "attack", "decay", "release", "brightness", "resonance"]) {
          assert.ok(!(key in e.transforms!), `${e.file}: model clip lists ${key}`);
        }
      } else if (e.group === "sonicpi") {
        assert.equal(e.class, "guitar");
        assert.match(e.preset!.name, /^Sonic Pi /);
        assert.ok(["held", "repeated"].includes(String(e.effects.pattern)));
        assert.ok(!("formantShift" in e.transforms!), `${e.file}: one phrase sample, no formant shift`);
      } else {
        assert.ok(Object.keys(cls(e.class).programs).map(Number).includes(e.preset!.program));
      }
      assert.equal(typeof e.transforms, "object");
      const audio = decodeWav(readFileSync(join(root, "one", e.file)), e.file);
      assert.equal(audio.channels[0]!.length, 8000);
    }
    assert.ok(new Set(manifest.map((e) => e.group)).size >= 2, "clips from more than one group");
    await synthesize({ ...config, outDir: join(root, "two") }, { jobs: 2 });
    const clipsOnly = (dir: string) => new Map([...hashTree(dir)].filter(([k]) => k !== "synth.json"));
    assert.deepEqual(clipsOnly(join(root, "one")), clipsOnly(join(root, "two")));
    await synthesize({ ...config, exclude: ["physical"], outDir: join(root, "held-out") }, { jobs: 1 });
    const rest = readManifest(join(root, "held-out"))!;
    assert.ok(rest.every((e) => e.group !== "physical"));
    assert.ok(existsSync(join(root, "held-out", "synth.json")));
  },
);
