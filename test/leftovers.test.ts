// Nothing half-written left behind: a killed `separate`'s `<track>.partial-<pid>/` is removed by the
// next run (a live writer's is kept), `mix` writes each WAV under a temp name then renames it, and
// `features` writes no `.npy` when its `--png` cannot be written; a `synth` that failed before its first
// clip does not bind the folder to its sources.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeMixSample } from "../src/data/mix/sample.js";
import { synthesize } from "../src/data/synth/synth.js";
import { removeStalePartials, type Separation, writeSeparation } from "../src/infer/index.js";
import { tempDir } from "./data-helpers.js";

/** The pid of a process that has exited (so no longer runs). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(r.stdout);
}

test("separate: a killed run's <track>.partial-<pid>/ is removed by the next write, said; a live run's is kept", async () => {
  const out = tempDir("leftovers-sep");
  const stale = join(out, `old.partial-${deadPid()}`);
  const live = join(out, `busy.partial-${process.ppid}`);
  for (const dir of [stale, live]) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "piano.wav"), new Uint8Array(1000));
  }
  const sampleRate = 16000;
  const samples = new Float32Array(1600).map((_, i) => 0.1 * Math.sin(i / 10));
  const separation: Separation = {
    stems: [{ name: "piano", channels: [samples] }],
    mixture: [samples],
    sampleRate,
    prediction: {
      instruments: [{ name: "piano", probability: 0.9 }],
      windows: [],
      durationSeconds: 0.1,
      sampleRate,
      windowSeconds: 1,
      hopSeconds: 0.5,
      warnings: [],
      noInstrument: null,
      namingStatistics: null,
    },
  };
  const notes: string[] = [];
  const written = await writeSeparation(join(out, "song"), "song.wav", separation, {
    onWarning: (m) => notes.push(m),
  });
  assert.deepEqual(written, [join(out, "song", "piano.wav")]);
  assert.equal(existsSync(stale), false, "the dead run's partial folder is removed");
  assert.equal(existsSync(live), true, "a running process's partial folder is kept");
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /old\.partial-\d+: removed the unfinished output of a stopped run \(pid \d+\)/u);
  assert.deepEqual(readdirSync(out).sort(), [`busy.partial-${process.ppid}`, "song"]);
  assert.deepEqual(await removeStalePartials(join(out, "missing")), []);
});

test("mix: each WAV is written under a temp name then renamed (a killed run leaves no short file under a final name); a resume removes the killed run's temp files", () => {
  const out = tempDir("leftovers-mix");
  const dir = join(out, "sample_0");
  mkdirSync(dir);
  // A hard link sees writes made in place into the final name, but not a rename over it.
  const witness = join(out, "witness");
  writeFileSync(witness, "old");
  linkSync(witness, join(dir, "mixed.wav"));
  const staleTemp = join(dir, `.source1.wav.${deadPid()}.0badc0de.tmp`);
  writeFileSync(staleTemp, "");
  const clip = new Float32Array(800).map((_, i) => 0.3 * Math.sin(i / 7));
  const task = { index: 0, clipIds: [0, 1], offsets: [0, 0], gainsDb: [0, -3] };
  const settings = { length: 400, balance: "none", offset: "start", normalize: "peak", peak: 0.9 } as const;
  writeMixSample(out, [clip, clip.map((v) => -0.5 * v)], task, settings, 8000);
  assert.equal(readFileSync(witness, "utf8"), "old", "mixed.wav was replaced, not written in place");
  assert.deepEqual(readdirSync(dir).sort(), ["mixed.wav", "source1.wav", "source2.wav"]);
  for (const name of readdirSync(dir)) assert.equal(statSync(join(dir, name)).size, 44 + 2 * 400);
});

const TIMGM = "/usr/share/sounds/sf2/TimGM6mb.sf2";

test(
  "synth: a run that failed on an unloadable soundfont accepts its retry with a good one; a folder with clips still refuses other sources",
  { skip: existsSync(TIMGM) ? false : `${TIMGM} is not installed (apt-get install timgm6mb-soundfont)` },
  async () => {
    const root = tempDir("leftovers-synth");
    const broken = join(root, "broken.sf2");
    writeFileSync(broken, new Uint8Array(4096).fill(0x5a));
    const outDir = join(root, "out");
    const config = { outDir, classes: ["piano"], perClass: 1, seconds: 0.3, seed: 2 };
    await assert.rejects(
      synthesize({ ...config, sources: [broken] }, { jobs: 1 }),
      /broken\.sf2: cannot load soundfont/,
    );
    assert.equal(existsSync(join(outDir, "manifest.jsonl")), false, "no clip was made");
    const retry = await synthesize({ ...config, sources: ["timgm6mb"] }, { jobs: 1 });
    assert.equal(retry.written, 1);
    assert.deepEqual(
      JSON.parse(readFileSync(join(outDir, "synth.json"), "utf8")).config.sources,
      ["timgm6mb"],
      "synth.json names the sources of the clips it made",
    );
    await assert.rejects(
      synthesize({ ...config, sources: [broken] }, { jobs: 1 }),
      /was rendered with a different sources .*use --overwrite/,
    );
  },
);
