// CLI smoke tests of `stemscope predict` and `stemscope separate` on a random tiny model: JSON lines,
// text timeline, PNG plot, stems on disk summing to the mixture, predictions.json, error messages.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeWav, loadAudio } from "../src/audio/index.js";
import { buildProgram } from "../src/cli/main.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-predict-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelDir = join(dir, "model");
const song = join(dir, "song.wav");
const stereo44k = join(dir, "stereo44k.wav");
const silent = join(dir, "silent.wav");
const short = join(dir, "short.wav");

before(async () => {
  await makeModelFolder(modelDir, { classes: ["cello", "flute", "piano"], mode: "native" });
  const a = harmonicTone(4.5, 16000, 220, 0.3);
  const b = harmonicTone(4.5, 16000, 660, 0.2);
  writeFileSync(
    song,
    encodeWav(
      a.map((v, i) => v + b[i]!),
      16000,
    ).bytes,
  );
  const l = harmonicTone(3, 44100, 330, 0.3);
  writeFileSync(stereo44k, encodeWav([l, l.map((v) => 0.5 * v)], 44100).bytes);
  writeFileSync(silent, encodeWav(new Float32Array(16000 * 3), 16000).bytes);
  writeFileSync(short, encodeWav(harmonicTone(0.7, 16000, 440), 16000).bytes);
});

/** Runs the real CLI entry in a child process (one smoke run; every other case runs in-process). */
function spawnCli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, STEMSCOPE_THREADS: "1" },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Parses a command line in this process; the CLI's own errors reject without printing. */
async function parse(...args: string[]): Promise<void> {
  const program = buildProgram();
  program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  await program.parseAsync(["node", "stemscope", ...args]);
}

test("predict --json: one object per file, all classes sorted, windows; --plot writes a PNG", () => {
  const plots = join(dir, "plots");
  const r = spawnCli("predict", song, stereo44k, "--model", modelDir, "--json", "--plot", plots);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as {
    file: string;
    instruments: { name: string; probability: number }[];
    windows: { start: number; end: number; silent: boolean }[];
  };
  assert.equal(first.file, song);
  assert.deepEqual(first.instruments.map((i) => i.name).sort(), ["cello", "flute", "piano"]);
  for (let i = 1; i < first.instruments.length; i++)
    assert.ok(first.instruments[i - 1]!.probability >= first.instruments[i]!.probability);
  assert.deepEqual(
    first.windows.map((w) => w.start),
    [0, 1, 2, 2.5],
  );
  const second = JSON.parse(lines[1]!) as { durationSeconds: number };
  assert.ok(Math.abs(second.durationSeconds - 3) < 0.01);
  const png = readFileSync(join(plots, "song.timeline.png"));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(16), 4 * 8); // 4 windows × 8 px
  assert.equal(png.readUInt32BE(20), 3 * 16); // 3 classes × 16 px
});

test("predict text output with --timeline; a short file is padded with a warning; a silent file is no instrument; an unreadable file fails clearly", async () => {
  const bad = join(dir, "bad.wav");
  writeFileSync(bad, "not audio at all");
  const r = spawnCli("predict", short, silent, bad, "--model", modelDir, "--timeline");
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /short\.wav: 0\.7 s, 1 window\n/); // the good file still printed
  assert.match(r.stdout, /timeline/);
  assert.match(r.stdout, / 0\.0–0\.7 /);
  assert.match(r.stderr, /warning: .*short\.wav: 0\.70 s is shorter than one 2 s window; zero-padded to 2 s/);
  assert.match(
    r.stdout,
    /silent\.wav: 3\.0 s, 2 windows\n {2}no instrument: silent: every window is below -60 dBFS RMS/,
  );
  assert.match(r.stderr, /bad\.wav: unknown audio format/);
  assert.match(r.stderr, /1 of 3 input files failed/);
  await assert.rejects(
    parse("predict", song, "--model", join(dir, "missing")),
    /missing: model folder not found/,
  );
  await assert.rejects(
    parse("predict", song, "--model", modelDir, "--hop", "0"),
    /--hop-seconds must be ≥ 0\.01, got 0/,
  );
});

test("separate: stems named by instrument sum back to the mixture, predictions.json; a silent file is its own one stem", async () => {
  const out = join(dir, "separated");
  const r = spawnCli("separate", song, silent, "--model", modelDir, "--out", out, "--float32", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /silent\.wav: no instrument \(silent: .*\); .*no-instrument\.wav is the input/);
  assert.deepEqual(readdirSync(join(out, "silent")).sort(), ["no-instrument.wav", "predictions.json"]);
  const files = readdirSync(join(out, "song")).sort();
  const predictions = JSON.parse(readFileSync(join(out, "song", "predictions.json"), "utf8")) as {
    instruments: { name: string }[];
    stems: { name: string; file: string }[];
  };
  const names = predictions.instruments.slice(0, 2).map((i) => i.name);
  assert.deepEqual(
    predictions.stems.map((s) => s.name),
    names,
  );
  assert.deepEqual(files, [...names.map((n) => `${n}.wav`), "predictions.json"].sort());
  const mix = (await loadAudio(song)).samples;
  const s0 = (await loadAudio(join(out, "song", `${names[0]}.wav`))).samples;
  const s1 = (await loadAudio(join(out, "song", `${names[1]}.wav`))).samples;
  let err = 0;
  for (let i = 0; i < mix.length; i++) err = Math.max(err, Math.abs(s0[i]! + s1[i]! - mix[i]!));
  assert.ok(err < 1e-4, `stems sum to the mixture (max error ${err})`);
  // pcm16 with rescale, progress lines on a non-TTY stderr
  const p = spawnCli("separate", stereo44k, "--model", modelDir, "--out", out, "--clip-mode", "rescale");
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /separate stereo44k: \d+\/\d+ \(100%\)/);
  assert.match(p.stdout, /stereo44k\.wav: .*stereo44k\/\w+\.wav \(\d\.\d\d\)/);
  await assert.rejects(
    parse("separate", song, "--model", modelDir, "--out", out, "--clip-mode", "wrap"),
    /--clip-mode must be one of clamp, rescale, got "wrap"/,
  );
});
