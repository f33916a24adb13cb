import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  AudioError,
  decodeAudioFile,
  decodeWav,
  encodeWav,
  loadAudio,
  writeWav,
} from "../src/audio/index.js";
import { runEncoder as encode } from "./data-helpers.js";
import { lcgNoise } from "./feature-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-truncated-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECONDS = 3;
const files: Record<string, string> = {};

before(async () => {
  for (const rate of [44100, 48000]) {
    // Tones plus noise, so that the encoders spread the audio over many frames and pages.
    const n = SECONDS * rate;
    const left = new Float32Array(n);
    const right = new Float32Array(n);
    const noise = lcgNoise(n, 1);
    for (let i = 0; i < n; i++) {
      left[i] = 0.4 * Math.sin((2 * Math.PI * 440 * i) / rate) + 0.05 * noise[i]!;
      right[i] = 0.3 * Math.sin((2 * Math.PI * 660 * i) / rate) - 0.05 * noise[i]!;
    }
    await writeWav(join(dir, `tone${rate}.wav`), [left, right], rate);
  }
  const wav = join(dir, "tone44100.wav");
  encode("flac", ["-s", "-f", "-o", (files.flac = join(dir, "tone.flac")), wav]);
  encode("lame", ["--quiet", wav, (files.mp3 = join(dir, "tone.mp3"))]);
  encode("oggenc", ["-Q", "-o", (files.ogg = join(dir, "tone.ogg")), wav]);
  encode("opusenc", ["--quiet", wav, (files.opus = join(dir, "tone.opus"))]);
  // 128 kbit/s at 48 kHz: every MPEG-1 layer III frame is exactly 144 · 128000 / 48000 = 384 bytes
  encode("lame", [
    "--quiet",
    "--cbr",
    "-b",
    "128",
    join(dir, "tone48000.wav"),
    (files.mp3cbr = join(dir, "cbr.mp3")),
  ]);
});

/** Decodes `path`, collecting warnings. */
async function decodeCollecting(path: string): Promise<{ seconds: number; warnings: string[] }> {
  const warnings: string[] = [];
  const decoded = await decodeAudioFile(path, { onWarning: (m) => warnings.push(m) });
  return { seconds: decoded.channels[0]!.length / decoded.sampleRate, warnings };
}

/** Writes the first `bytes` bytes of `from` to a new file and returns its path. */
function cut(from: string, bytes: number, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, readFileSync(from).subarray(0, bytes));
  return path;
}

test("complete FLAC, MP3, Ogg/Vorbis and Ogg/Opus files decode without a warning", async () => {
  for (const format of ["flac", "mp3", "ogg", "opus", "mp3cbr"]) {
    const { seconds, warnings } = await decodeCollecting(files[format]!);
    assert.deepEqual(warnings, [], format);
    assert.ok(Math.abs(seconds - SECONDS) < 0.1, `${format}: ${seconds} s`);
  }
});

test("half a FLAC, MP3, Ogg/Vorbis or Ogg/Opus file decodes with a warning that the stream ended early", async () => {
  const expected: Record<string, RegExp> = {
    flac: /samples per channel decoded \(STREAMINFO counts 132300\)/,
    mp3: /the last MPEG frame is cut off/,
    ogg: /the last Ogg page is cut off/,
    opus: /the last Ogg page is cut off/,
  };
  for (const [format, detail] of Object.entries(expected)) {
    const half = cut(files[format]!, Math.floor(readFileSync(files[format]!).length / 2), `half.${format}`);
    const { seconds, warnings } = await decodeCollecting(half);
    assert.equal(warnings.length, 1, `${format}: ${warnings.join(" | ")}`);
    const warning = warnings[0]!;
    assert.ok(warning.startsWith(`${half}: the stream ended early: `), warning);
    assert.match(warning, detail);
    assert.match(warning, /the file looks truncated, using the \d+\.\d\d s that decoded/);
    assert.ok(seconds > 0.5 && seconds < 0.75 * SECONDS, `${format}: ${seconds} s decoded`);
  }
});

test("cut at a frame or page boundary: the MP3's Info frame count and the Ogg end-of-stream flag tell", async () => {
  const mp3 = readFileSync(files.mp3cbr!);
  assert.equal(mp3[0], 0xff, "lame wrote no ID3 tag: frames start at byte 0");
  const frames = Math.round(mp3.length / 384);
  const mp3Cut = cut(files.mp3cbr!, 384 * Math.floor(frames / 2), "frames.mp3");
  const a = await decodeCollecting(mp3Cut);
  assert.equal(a.warnings.length, 1, a.warnings.join(" | "));
  assert.match(
    a.warnings[0]!,
    new RegExp(`holds ${Math.floor(frames / 2)} MPEG frames, its Info header counts ${frames - 1}`),
  );

  const ogg = readFileSync(files.ogg!);
  const page = ogg.lastIndexOf("OggS", Math.floor(ogg.length / 2));
  assert.ok(page > 0);
  const b = await decodeCollecting(cut(files.ogg!, page, "pages.ogg"));
  assert.equal(b.warnings.length, 1, b.warnings.join(" | "));
  assert.match(b.warnings[0]!, /its last Ogg page lacks the end-of-stream flag/);
});

test("a file cut before its first audio is an error that says it looks truncated", async () => {
  const ogg = readFileSync(files.ogg!);
  const path = cut(files.ogg!, ogg.indexOf("OggS", ogg.indexOf("OggS", 4) + 4) + 100, "headers.ogg");
  await assert.rejects(
    decodeAudioFile(path),
    (e: unknown) =>
      e instanceof AudioError &&
      e.message.startsWith(
        `${path}: no audio decoded: the stream ended early: the last Ogg page is cut off`,
      ) &&
      e.message.endsWith("; the file looks truncated"),
  );
});

test("loadAudio passes the truncation warning to onWarning", async () => {
  const half = cut(files.flac!, Math.floor(readFileSync(files.flac!).length / 2), "load.flac");
  const warnings: string[] = [];
  const loaded = await loadAudio(half, { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.ok(loaded.durationSeconds < 0.75 * SECONDS);
});

test("a header claiming 2^31 Hz or 10 Hz is an error naming the file and the accepted range", async () => {
  for (const rate of [2 ** 31, 10]) {
    const bytes = encodeWav(new Float32Array(16000).fill(0.1), 16000).bytes;
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(24, rate, true);
    const path = join(dir, `rate${rate}.wav`);
    writeFileSync(path, bytes);
    const message = `${path}: the header claims a sample rate of ${rate} Hz; expected 1000–768000 Hz (corrupt header?)`;
    const isIt = (e: unknown) => e instanceof AudioError && e.message === message;
    await assert.rejects(loadAudio(path), isIt);
    await assert.rejects(decodeAudioFile(path), isIt);
    assert.throws(() => decodeWav(bytes, path), isIt);
  }
});
