import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeWav } from "../src/audio/index.js";
import { checkDataset } from "../src/data/dataset/check.js";
import { resolveSoundfonts } from "../src/data/synth/instruments.js";
import { resolveSources } from "../src/data/synth/sources/groups.js";
import { readManifest } from "../src/data/formats/manifest.js";
import { formatInventory } from "../src/data/synth/sources/inventory.js";
import { SYNTH_FORMAT_VERSION, synthInventory, synthesize } from "../src/data/synth/synth.js";
import { synthFlagsToConfig } from "../src/cli/synth.js";
import { hashTree, tempDir } from "./data-helpers.js";

const TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2";
const skip = existsSync(TIMGM) ? false : `${TIMGM} is not installed (apt-get install timgm6mb-soundfont)`;

test(
  "synth: 16 kHz mono clips of the right length, non-silent, not clipped; identical for any --jobs",
  { skip },
  async () => {
    const root = tempDir();
    const config = {
      classes: ["piano", "violin"],
      perClass: 2,
      seconds: 0.5,
      soundfonts: ["timgm6mb"],
      seed: 4,
    };
    const one = await synthesize({ ...config, outDir: join(root, "one") }, { jobs: 1 });
    assert.equal(one.clips, 4);
    assert.equal(one.written, 4);
    for (const cls of ["piano", "violin"]) {
      for (const id of ["000000", "000001"]) {
        const audio = decodeWav(readFileSync(join(root, "one", cls, `${id}.wav`)), id);
        assert.equal(audio.sampleRate, 16000);
        assert.equal(audio.channels.length, 1);
        const x = audio.channels[0]!;
        assert.equal(x.length, 8000);
        let peak = 0;
        for (const v of x) peak = Math.max(peak, Math.abs(v));
        assert.ok(peak > 0.1 && peak < 0.9, `${cls}/${id} peak ${peak}`);
      }
    }
    const manifest = readManifest(join(root, "one"))!;
    assert.deepEqual(
      manifest.map((e) => e.file),
      ["piano/000000.wav", "piano/000001.wav", "violin/000000.wav", "violin/000001.wav"],
    );
    for (const e of manifest) {
      assert.equal(e.soundfont, "timgm6mb");
      assert.equal(e.group, "timgm6mb");
      assert.equal(e.source, "soundfont");
      // TimGM6mb has bank 0 only: the preset is the GM program, within the class's family.
      assert.equal(e.preset?.bank, 0);
      assert.equal(e.preset?.program, e.program);
      assert.ok(e.class === "piano" ? [0, 1, 2, 3].includes(e.program) : [40, 41, 110].includes(e.program));
      assert.ok(e.velocity >= 30 && e.velocity <= 127);
      assert.ok(e.notes.length >= 1);
    }
    const report = checkDataset(join(root, "one"), { seconds: 0.5 });
    assert.equal(report.errors, 0);
    assert.deepEqual(
      report.issues.filter((i) => i.code === "silent" || i.code === "clipped"),
      [],
    );
    // Two workers give the same bytes; a re-run resumes (nothing to do) and keeps them.
    await synthesize({ ...config, outDir: join(root, "two") }, { jobs: 2 });
    const clipsOnly = (dir: string) => new Map([...hashTree(dir)].filter(([k]) => k !== "synth.json")); // synth.json names the folder
    assert.deepEqual(clipsOnly(join(root, "one")), clipsOnly(join(root, "two")));
    const again = await synthesize({ ...config, outDir: join(root, "one") }, { jobs: 1 });
    assert.equal(again.written, 0);
    assert.equal(again.skipped, 4);
    await assert.rejects(
      synthesize({ ...config, seed: 5, outDir: join(root, "one") }, { jobs: 1 }),
      /was rendered with a different seed .*use --overwrite/,
    );
    // A folder from an older rendering recipe is not resumed with clips that would sound different.
    const synthJson = join(root, "one", "synth.json");
    const record = JSON.parse(readFileSync(synthJson, "utf8"));
    assert.equal(record.version, SYNTH_FORMAT_VERSION);
    writeFileSync(synthJson, JSON.stringify({ ...record, version: 2 }));
    await assert.rejects(
      synthesize({ ...config, outDir: join(root, "one") }, { jobs: 1 }),
      /one: was rendered by another version of stemscope synth \(format version 2, this one writes 3\).*use --overwrite/,
    );
  },
);

test("synth: unknown classes and soundfonts are clear errors", () => {
  assert.throws(
    () => resolveSoundfonts(["nope"]),
    /unknown soundfont "nope"; use all, fluidr3, musescore, timgm6mb, a320u, or a path/,
  );
  assert.throws(() => resolveSoundfonts(["/no/such.sf2"]), /soundfont file \/no\/such\.sf2 not found/);
  assert.throws(
    () => resolveSources(["nope"]),
    /unknown source "nope"; use all, fluidr3, musescore, timgm6mb, a320u, sonivox, salamander, grandorgue, sonicpi, physical, or a path/,
  );
  assert.throws(() => resolveSources("all", ["a32"]), /unknown source group "a32"; known groups: fluidr3/);
  assert.throws(
    () => resolveSources(["physical"], ["physical"]),
    /no sources left to render from after excluding physical/,
  );
  const missing = [
    {
      id: "grandorgue",
      kind: "samples" as const,
      description: "organ",
      weight: 1,
      locate: () => undefined,
      install: "the Debian packages grandorgue-demo and wavpack",
    },
  ];
  assert.throws(
    () => resolveSources("all", [], {}, missing),
    /source "grandorgue" \(organ\) is not installed; install the Debian packages grandorgue-demo and wavpack, or leave it out \(exclude grandorgue\)/,
  );
});

test("synth: a missing Debian soundfont names its package", () => {
  const registry = [
    {
      id: "fluidr3",
      paths: ["/nonexistent/FluidR3_GM.sf2"],
      debianPackage: "fluid-soundfont-gm",
      description: "Fluid R3",
    },
  ];
  assert.throws(
    () => resolveSoundfonts("all", registry),
    /soundfont "fluidr3" \(Fluid R3\) not found at \/nonexistent\/FluidR3_GM\.sf2; install the Debian package fluid-soundfont-gm \(sudo apt-get install fluid-soundfont-gm, or run scripts\/setup\.sh\)/,
  );
});

test("synth flags: --sources, --exclude, --group-weights, --no-transforms become the config; bad ones are clear errors", () => {
  assert.deepEqual(
    synthFlagsToConfig({
      sources: "fluidr3,physical,/x/my.sf2",
      exclude: "a320u",
      groupWeights: "sonivox=0.3,physical=2",
      transforms: false,
    }),
    {
      sources: ["fluidr3", "physical", "/x/my.sf2"],
      exclude: ["a320u"],
      groupWeights: { sonivox: 0.3, physical: 2 },
      transforms: false,
    },
  );
  assert.deepEqual(synthFlagsToConfig({ soundfonts: "all" }), { soundfonts: "all" });
  assert.throws(
    () => synthFlagsToConfig({ groupWeights: "sonivox:0.3" }),
    /--group-weights: expected group=weight items, e.g. sonivox=0.3; got "sonivox:0.3"/,
  );
  assert.throws(
    () => synthFlagsToConfig({ sources: "all", soundfonts: "all" }),
    /--soundfonts and --sources: give one of them/,
  );
});

test("synth inventory: presets per group, distinct sample sets, models", { skip }, async () => {
  const { groups, rows } = await synthInventory({
    classes: ["violin", "clarinet"],
    sources: ["timgm6mb", "physical"],
  });
  assert.deepEqual(groups, ["timgm6mb", "physical"]);
  // TimGM6mb bank 0: Violin (40), Viola (41) and Fiddle (110) all play the same eight violin samples
  // (one recorded timbre); Clarinet (71).
  assert.deepEqual(rows, [
    {
      className: "violin",
      presetsByGroup: { timgm6mb: 3, physical: 1 },
      presets: 4,
      recordedTimbres: 1,
      models: 1,
    },
    {
      className: "clarinet",
      presetsByGroup: { timgm6mb: 1, physical: 1 },
      presets: 2,
      recordedTimbres: 1,
      models: 1,
    },
  ]);
  const table = formatInventory(rows, groups).split("\n");
  assert.equal(table[0], "class     timgm6mb  physical  presets  recorded  models");
  assert.equal(table[1], "violin           3         1        4         1       1");
});
