// Large compressed files are decoded in chunks (src/audio/chunked.ts) so that memory holds one chunk,
// not the file: the samples, channels, rate and truncation warnings must be exactly the whole-file
// decoder's. The tests lower the size threshold to 0 so that small files take the chunked path.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { decodeAudioFile, writeWav } from "../src/audio/index.js";
import { type AudioStream, openAudioStream } from "../src/audio/stream.js";
import { runEncoder, tempDir } from "./data-helpers.js";
import { lcgNoise } from "./feature-helpers.js";

const dir = tempDir("stemscope-chunked-");
after(() => rmSync(dir, { recursive: true, force: true }));
const files: Record<string, string> = {};

before(async () => {
  // 8 s of two different tones plus noise, the first 1.5 s silent in both channels: the MP3 decoder
  // hands out equal channels there as mono, then stereo (the chunked reader must widen the start).
  const rate = 44100;
  const n = 8 * rate;
  const noise = lcgNoise(n, 7);
  const left = new Float32Array(n);
  const right = new Float32Array(n);
  for (let i = Math.round(1.5 * rate); i < n; i++) {
    left[i] = 0.4 * Math.sin((2 * Math.PI * 440 * i) / rate) + 0.05 * noise[i]!;
    right[i] = 0.3 * Math.sin((2 * Math.PI * 587 * i) / rate) - 0.05 * noise[i]!;
  }
  const wav = join(dir, "tone.wav");
  await writeWav(wav, [left, right], rate);
  runEncoder("flac", ["-s", "-f", "-o", (files.flac = join(dir, "tone.flac")), wav]);
  runEncoder("lame", ["--quiet", wav, (files.mp3 = join(dir, "tone.mp3"))]);
  runEncoder("oggenc", ["-Q", "-o", (files.ogg = join(dir, "tone.ogg")), wav]);
  runEncoder("opusenc", ["--quiet", wav, (files.opus = join(dir, "tone.opus"))]);
});

/** The stream's blocks of `blockFrames`, joined per channel, checking every block but the last is full. */
async function readAll(stream: AudioStream, blockFrames: number): Promise<Float32Array[]> {
  const channels = Array.from({ length: stream.channels }, () => new Float32Array(stream.frames));
  let at = 0;
  let short = false;
  for await (const block of stream.blocks(blockFrames)) {
    assert.ok(!short, "only the last block may be short");
    assert.equal(block.length, stream.channels);
    block.forEach((c, i) => channels[i]!.set(c, at));
    at += block[0]!.length;
    short = block[0]!.length < blockFrames;
  }
  assert.equal(at, stream.frames);
  return channels;
}

for (const format of ["mp3", "flac", "ogg", "opus"]) {
  test(`a ${format} file decoded in chunks has exactly the whole-file decoder's samples`, async () => {
    const path = files[format]!;
    const whole = await decodeAudioFile(path);
    const stream = await openAudioStream(path, { chunkedMinBytes: 0 });
    assert.equal(stream.sampleRate, whole.sampleRate);
    assert.equal(stream.channels, 2);
    assert.equal(stream.frames, whole.channels[0]!.length);
    // block sizes that do not divide the decoder's chunks; read twice (separate reads twice)
    for (const blockFrames of [10007, 65536]) {
      const read = await readAll(stream, blockFrames);
      read.forEach((c, i) =>
        assert.deepEqual(c, whole.channels[i], `channel ${i}, blocks of ${blockFrames}`),
      );
    }
    await stream.close();
  });
}

test("a truncated compressed file read in chunks warns as the whole-file decoder does", async () => {
  for (const format of ["mp3", "flac", "ogg", "opus"]) {
    const path = join(dir, `half.${format}`);
    const bytes = readFileSync(files[format]!);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const wholeWarnings: string[] = [];
    const chunkWarnings: string[] = [];
    const whole = await decodeAudioFile(path, { onWarning: (m) => wholeWarnings.push(m) });
    const stream = await openAudioStream(path, {
      chunkedMinBytes: 0,
      onWarning: (m) => chunkWarnings.push(m),
    });
    assert.equal(stream.frames, whole.channels[0]!.length, format);
    assert.equal(wholeWarnings.length, 1, format);
    assert.match(wholeWarnings[0]!, /the stream ended early/);
    assert.deepEqual(chunkWarnings, wholeWarnings, format);
  }
});

test("a corrupt compressed file read in chunks is an error naming it; a file that changes is caught", async () => {
  const garbage = join(dir, "garbage.flac");
  // a FLAC signature followed by noise: detected as FLAC, but nothing decodes
  writeFileSync(garbage, Buffer.concat([Buffer.from("fLaC"), Buffer.alloc(4000, 0x5a)]));
  const wholeError = await decodeAudioFile(garbage).then(
    () => assert.fail("the whole-file decoder accepted garbage"),
    (e: Error) => e,
  );
  await assert.rejects(openAudioStream(garbage, { chunkedMinBytes: 0 }), (e: Error) => {
    assert.equal(e.name, "AudioError");
    assert.equal(e.message, wholeError.message);
    assert.ok(e.message.startsWith(`${garbage}: `), e.message);
    return true;
  });
  const changing = join(dir, "changing.flac");
  writeFileSync(changing, readFileSync(files.flac!));
  const stream = await openAudioStream(changing, { chunkedMinBytes: 0 });
  const bytes = readFileSync(files.flac!);
  writeFileSync(changing, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(readAll(stream, 65536), /changed while read/);
});
