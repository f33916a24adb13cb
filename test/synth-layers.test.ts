// `synth --layers`: a clip doubled by a second timbre of its class and source group (render.ts,
// ClipLayer) — how it is drawn, that it is rendered as the sum it claims to be, and how synth records it.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readManifest } from "../src/data/formats/manifest.js";
import { DEFAULT_CLASSES, type InstrumentClass } from "../src/data/synth/instruments.js";
import { loadSources } from "../src/data/synth/sources/load.js";
import { drawModelParams } from "../src/data/synth/sources/physical.js";
import { addAtLevel, ClipRenderer, type ClipPlan, planClip } from "../src/data/synth/render.js";
import { synthesize } from "../src/data/synth/synth.js";
import { Random } from "../src/util/random.js";
import { fundamental, tempDir } from "./data-helpers.js";

const TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2";
const skip = existsSync(TIMGM) ? false : `${TIMGM} is not installed (apt-get install timgm6mb-soundfont)`;
const cls = (name: string): InstrumentClass => DEFAULT_CLASSES.find((c) => c.name === name)!;

const timgmAndModels = () =>
  loadSources(
    [
      { group: "timgm6mb", kind: "soundfont", weight: 1, path: TIMGM },
      { group: "physical", kind: "model", weight: 1, path: "builtin" },
    ],
    DEFAULT_CLASSES,
  );

test("addAtLevel: the part is added at its level against the main part's RMS; silence adds nothing", () => {
  const main = Float32Array.from([3, -3, 3, -3]); // RMS 3
  const part = Float32Array.from([1, 1, -1, -1]); // RMS 1
  const out = main.slice();
  addAtLevel(out, part, -20 * Math.log10(2)); // half main's RMS: the part × 1.5
  assert.deepEqual([...out], [4.5, -1.5, 1.5, -4.5]);
  const kept = main.slice();
  addAtLevel(kept, new Float32Array(4), 0);
  assert.deepEqual(kept, main);
  const silent = new Float32Array(4);
  addAtLevel(silent, part, 0);
  assert.deepEqual(silent, new Float32Array(4));
});

test(
  "planClip: a layer leaves every other choice as it was and plays the clip's notes in its own group",
  { skip },
  async () => {
    const sources = await timgmAndModels();
    let layered = 0;
    let halfLayered = 0;
    for (const [c, klass] of DEFAULT_CLASSES.entries()) {
      for (let k = 0; k < 20; k++) {
        const plan = (layers?: number): ClipPlan =>
          planClip(new Random(7).fork(`${klass.name}:${k}`), klass, sources.timbres[c]!, 2, {
            label: `${klass.name}:${k}`,
            ...(layers === undefined ? {} : { layers }),
          });
        const base = plan();
        assert.deepEqual(plan(0), base);
        assert.equal(base.layer, undefined);
        const { layer, ...rest } = plan(1);
        assert.deepEqual(rest, base, `${klass.name} clip ${k}: a layer changed the clip's other choices`);
        // The main preset can always play its own notes, so with probability 1 every clip is layered.
        assert.ok(layer !== undefined, `${klass.name} clip ${k} has no layer`);
        layered++;
        const where = `${klass.name} clip ${k} (${base.preset.name} + ${layer.preset.name})`;
        assert.equal(layer.preset.group, base.preset.group, where);
        assert.ok(
          sources.timbres[c]!.some((g) => g.presets.includes(layer.preset)),
          `${where}: not of the class`,
        );
        for (const n of base.notes) {
          assert.ok(
            n.note >= layer.preset.range[0] && n.note <= layer.preset.range[1],
            `${where}: note ${n.note}`,
          );
        }
        assert.ok(layer.preset.patterns === undefined || layer.preset.patterns.includes(base.pattern), where);
        assert.ok(Math.abs(layer.detuneCents) >= 4 && Math.abs(layer.detuneCents) <= 20, where);
        assert.ok(layer.delay >= 0 && layer.delay <= 0.03, where);
        assert.ok(layer.gainDb >= -12 && layer.gainDb <= 0, where);
        assert.equal(layer.modelParams !== undefined, layer.preset.kind === "model", where);
        if (layer.preset.kind === "model") assert.equal(layer.formantShift, 0, where);
        if (plan(0.5).layer !== undefined) halfLayered++;
      }
    }
    assert.equal(layered, 200);
    assert.ok(halfLayered > 70 && halfLayered < 130, `layers 0.5 layered ${halfLayered} of 200 clips`);
  },
);

test(
  "ClipRenderer: a layer is mixed in before the effects — the same part on time doubles the clip; a late one is the clip delayed",
  { skip },
  async () => {
    const sources = await timgmAndModels();
    const flute = cls("flute");
    const c = DEFAULT_CLASSES.indexOf(flute);
    const bank = sources.banks.get("timgm6mb")!;
    const preset = sources.timbres[c]!.find((g) => g.group === "timgm6mb")!.presets[0]!;
    const drawn = planClip(new Random(1).fork("flute"), flute, sources.timbres[c]!, 1, { transforms: false });
    // A held A4 with the drawn chorus and reverb (linear, so they commute with doubling).
    const plain: ClipPlan = {
      ...drawn,
      preset,
      notes: [{ note: 69, start: 0.05, duration: 0.6 }],
      velocity: 100,
      vibrato: 0,
      bendSemitones: 0,
      chorus: 40,
      reverb: 30,
    };
    const layer = { preset, formantShift: 0, detuneCents: 0, delay: 0, gainDb: 0 };
    const renderer = new ClipRenderer();
    const once = renderer.render(bank, plain, 1, 16000);
    const twice = renderer.render(bank, { ...plain, layer }, 1, 16000);
    // Doubling is exact in floating point, through the resampler and the effects alike.
    assert.deepEqual(
      twice,
      once.map((v) => 2 * v),
    );

    // 24 ms = 6 render blocks (events fall on 4-ms blocks) = 384 output samples. Without the chorus's
    // clock-driven modulation the layered clip minus the clip is the clip 384 samples later.
    const dry = { ...plain, chorus: 0 };
    const alone = renderer.render(bank, dry, 1, 16000);
    const late = renderer.render(bank, { ...dry, layer: { ...layer, delay: 0.024 } }, 1, 16000);
    let peak = 0;
    let error = 0;
    for (let i = 384; i < alone.length; i++) {
      peak = Math.max(peak, Math.abs(alone[i - 384]!));
      error = Math.max(error, Math.abs(late[i]! - alone[i]! - alone[i - 384]!));
    }
    for (let i = 0; i < 300; i++) error = Math.max(error, Math.abs(late[i]! - alone[i]!));
    assert.ok(peak > 0.05, `the note is silent (peak ${peak})`);
    assert.ok(error < 1e-4 * peak, `layered − clip differs from the delayed clip by ${error} (peak ${peak})`);
  },
);

test(
  "ClipRenderer: a layer sounds detuned by its cents, from a sound bank and from a model",
  { skip },
  async () => {
    const sources = await timgmAndModels();
    const renderer = new ClipRenderer();
    // A held A4 (A3 on the plucked string), the layer +80 dB over the main part: all one hears.
    const parts = [
      { name: "flute", group: "timgm6mb", note: 69 },
      { name: "guitar", group: "physical", note: 57 },
    ];
    for (const { name, group, note } of parts) {
      const klass = cls(name);
      const c = DEFAULT_CLASSES.indexOf(klass);
      const preset = sources.timbres[c]!.find((g) => g.group === group)!.presets[0]!;
      const drawn = planClip(new Random(2).fork(name), klass, sources.timbres[c]!, 1.5, {
        transforms: false,
      });
      const modelParams =
        preset.model === undefined ? {} : { modelParams: drawModelParams(new Random(2), preset.model, name) };
      const plain: ClipPlan = {
        ...drawn,
        preset,
        ...modelParams,
        notes: [{ note, start: 0, duration: 1.4 }],
        velocity: 100,
        vibrato: 0,
        bendSemitones: 0,
        chorus: 0,
        reverb: 0,
      };
      const bank = sources.banks.get(group);
      const expectHz = 440 * 2 ** ((note - 69) / 12);
      const cents = (hz: number): number => 1200 * Math.log2(hz / expectHz);
      const heard = (detuneCents: number): number => {
        const layer = { preset, formantShift: 0, detuneCents, delay: 0, gainDb: 80, ...modelParams };
        return cents(
          fundamental(renderer.render(bank, { ...plain, layer }, 1.5, 16000), 16000, expectHz, 0.4, 1.1).hz,
        );
      };
      const inTune = heard(0);
      assert.ok(
        Math.abs(inTune) < 5,
        `${name} (${group}) note ${note} sounds ${inTune.toFixed(1)} cents off`,
      );
      for (const detune of [-20, 35]) {
        const moved = heard(detune) - inTune;
        assert.ok(
          Math.abs(moved - detune) < 1.5,
          `${name} (${group}): a layer detuned ${detune} cents sounds ${moved.toFixed(2)} cents off`,
        );
      }
    }
  },
);

test(
  "synth --layers: the manifest records each layer; a folder is resumed only with the layers it was made with",
  { skip },
  async () => {
    const root = tempDir();
    const config = {
      classes: ["clarinet", "organ"],
      perClass: 3,
      seconds: 0.5,
      soundfonts: ["timgm6mb"],
      seed: 2,
    };
    const outDir = join(root, "layered");
    await synthesize({ ...config, outDir, layers: 1 }, { jobs: 1 });
    const sources = await timgmAndModels();
    const entries = readManifest(outDir)!;
    assert.equal(entries.length, 6);
    for (const e of entries) {
      assert.ok(e.layer !== undefined, `${e.file} has no layer`);
      const presets = sources.timbres[DEFAULT_CLASSES.findIndex((k) => k.name === e.class)]!.find(
        (g) => g.group === "timgm6mb",
      )!.presets;
      assert.ok(
        presets.some((p) => p.bank === e.layer!.preset.bank && p.program === e.layer!.preset.program),
        `${e.file}: layer ${e.layer.preset.name} is not a TimGM6mb ${e.class}`,
      );
    }
    await assert.rejects(
      synthesize({ ...config, perClass: 4, outDir, layers: 0.5 }, { jobs: 1 }),
      /layered: was rendered with a different layers .*use --overwrite/,
    );
    // A folder from before the option (no `layers` in synth.json) grows with the default, 0.
    const plain = join(root, "plain");
    await synthesize({ ...config, outDir: plain }, { jobs: 1 });
    const synthJson = join(plain, "synth.json");
    const record = JSON.parse(readFileSync(synthJson, "utf8"));
    assert.equal(record.config.layers, 0);
    delete record.config.layers;
    writeFileSync(synthJson, JSON.stringify(record));
    const grown = await synthesize({ ...config, perClass: 4, outDir: plain }, { jobs: 1 });
    assert.deepEqual([grown.written, grown.skipped], [2, 6]);
    assert.ok(readManifest(plain)!.every((e) => e.layer === undefined));
    await assert.rejects(
      synthesize({ ...config, outDir: plain, layers: 1 }, { jobs: 1 }),
      /different layers/,
    );
  },
);
