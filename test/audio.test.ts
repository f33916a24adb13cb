import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  AudioError,
  decodeAudioFile,
  decodeWav,
  downmixToMono,
  encodeWav,
  fixLength,
  loadAudio,
  resample,
  writeWav,
} from "../src/audio/index.js";
import { StemscopeError } from "../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-audio-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Builds a WAV file by hand: `fmt` body fields and raw little-endian data bytes. */
function buildWav(opts: {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bits: number;
  data: Uint8Array;
  extensibleSubformat?: number;
  dataSizeOverride?: number;
}): Uint8Array {
  const ext = opts.extensibleSubformat !== undefined;
  const fmtSize = ext ? 40 : 16;
  const blockAlign = (opts.channels * opts.bits) / 8;
  const total = 12 + 8 + fmtSize + 8 + opts.data.length;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  const put = (o: number, s: string) => [...s].forEach((ch, i) => (out[o + i] = ch.charCodeAt(0)));
  put(0, "RIFF");
  v.setUint32(4, total - 8, true);
  put(8, "WAVE");
  put(12, "fmt ");
  v.setUint32(16, fmtSize, true);
  v.setUint16(20, ext ? 0xfffe : opts.formatTag, true);
  v.setUint16(22, opts.channels, true);
  v.setUint32(24, opts.sampleRate, true);
  v.setUint32(28, opts.sampleRate * blockAlign, true);
  v.setUint16(32, blockAlign, true);
  v.setUint16(34, opts.bits, true);
  if (ext) {
    v.setUint16(36, 22, true);
    v.setUint16(38, opts.bits, true);
    v.setUint32(40, opts.channels === 2 ? 3 : 4, true);
    v.setUint16(44, opts.extensibleSubformat as number, true);
    // rest of the KSDATAFORMAT GUID: 0000-0010-8000-00aa00389b71
    out.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 46);
  }
  const d = 20 + fmtSize;
  put(d, "data");
  v.setUint32(d + 4, opts.dataSizeOverride ?? opts.data.length, true);
  out.set(opts.data, d + 8);
  return out;
}

function bytesOf(values: number[], bits: number, kind: "int" | "uint8" | "float"): Uint8Array {
  const bps = bits / 8;
  const out = new Uint8Array(values.length * bps);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const o = i * bps;
    if (kind === "float") {
      if (bits === 32) v.setFloat32(o, x, true);
      else v.setFloat64(o, x, true);
    } else if (kind === "uint8") v.setUint8(o, x);
    else if (bits === 16) v.setInt16(o, x, true);
    else if (bits === 32) v.setInt32(o, x, true);
    else {
      v.setUint8(o, x & 0xff);
      v.setUint8(o + 1, (x >> 8) & 0xff);
      v.setUint8(o + 2, (x >> 16) & 0xff);
    }
  });
  return out;
}

function sine(n: number, freq: number, rate: number, amp = 0.5): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (x[i] as number) ** 2;
  return Math.sqrt(s / (to - from));
}

function assertAudioError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof AudioError && e instanceof StemscopeError && pattern.test(e.message),
  );
}

async function assertRejectsAudio(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AudioError, `expected AudioError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("decodeWav: every common encoding", () => {
  test("8-bit unsigned PCM", () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 1,
      sampleRate: 8000,
      bits: 8,
      data: bytesOf([0, 64, 128, 192, 255], 8, "uint8"),
    });
    const { channels, sampleRate } = decodeWav(wav, "a.wav");
    assert.equal(sampleRate, 8000);
    assert.deepEqual([...(channels[0] as Float32Array)], [-1, -0.5, 0, 0.5, 127 / 128]);
  });
  test("16-bit PCM stereo is de-interleaved", () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 2,
      sampleRate: 16000,
      bits: 16,
      data: bytesOf([-32768, 16384, 32767, -1], 16, "int"),
    });
    const { channels } = decodeWav(wav, "a.wav");
    assert.deepEqual([...(channels[0] as Float32Array)], [-1, 32767 / 32768]);
    assert.deepEqual([...(channels[1] as Float32Array)], [0.5, -1 / 32768]);
    // the same bytes at an odd offset (no aligned Int16Array view: the DataView path)
    const shifted = new Uint8Array(wav.length + 1);
    shifted.set(wav, 1);
    assert.deepEqual(decodeWav(shifted.subarray(1), "a.wav").channels, channels);
  });
  test("24-bit PCM, including sign extension", () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 1,
      sampleRate: 16000,
      bits: 24,
      data: bytesOf([-8388608, 4194304, -1, 8388607], 24, "int"),
    });
    const ch = decodeWav(wav, "a.wav").channels[0] as Float32Array;
    assert.deepEqual([...ch], [-1, 0.5, Math.fround(-1 / 8388608), Math.fround(8388607 / 8388608)]);
  });
  test("32-bit PCM", () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 1,
      sampleRate: 16000,
      bits: 32,
      data: bytesOf([-2147483648, 1073741824], 32, "int"),
    });
    assert.deepEqual([...(decodeWav(wav, "a.wav").channels[0] as Float32Array)], [-1, 0.5]);
  });
  test("32- and 64-bit float", () => {
    const f32 = buildWav({
      formatTag: 3,
      channels: 1,
      sampleRate: 16000,
      bits: 32,
      data: bytesOf([0.25, -0.75], 32, "float"),
    });
    assert.deepEqual([...(decodeWav(f32, "a.wav").channels[0] as Float32Array)], [0.25, -0.75]);
    const f64 = buildWav({
      formatTag: 3,
      channels: 1,
      sampleRate: 16000,
      bits: 64,
      data: bytesOf([0.1, -0.3], 64, "float"),
    });
    assert.deepEqual(
      [...(decodeWav(f64, "a.wav").channels[0] as Float32Array)],
      [Math.fround(0.1), Math.fround(-0.3)],
    );
  });
  test("WAVE_FORMAT_EXTENSIBLE with PCM and float sub-formats", () => {
    const pcm = buildWav({
      formatTag: 1,
      channels: 2,
      sampleRate: 48000,
      bits: 16,
      data: bytesOf([16384, -16384], 16, "int"),
      extensibleSubformat: 1,
    });
    const d = decodeWav(pcm, "x.wav");
    assert.equal(d.sampleRate, 48000);
    assert.deepEqual(
      d.channels.map((c) => c[0]),
      [0.5, -0.5],
    );
    const flt = buildWav({
      formatTag: 3,
      channels: 1,
      sampleRate: 48000,
      bits: 32,
      data: bytesOf([0.125], 32, "float"),
      extensibleSubformat: 3,
    });
    assert.equal(decodeWav(flt, "x.wav").channels[0]?.[0], 0.125);
  });
  test("skips unknown chunks (LIST) and handles odd chunk padding", () => {
    const base = buildWav({
      formatTag: 1,
      channels: 1,
      sampleRate: 16000,
      bits: 16,
      data: bytesOf([100, 200], 16, "int"),
    });
    // insert a 3-byte LIST chunk (+1 pad byte) after fmt
    const list = new Uint8Array([0x4c, 0x49, 0x53, 0x54, 3, 0, 0, 0, 1, 2, 3, 0]);
    const wav = new Uint8Array(base.length + list.length);
    wav.set(base.subarray(0, 36));
    wav.set(list, 36);
    wav.set(base.subarray(36), 36 + list.length);
    assert.deepEqual([...(decodeWav(wav, "a.wav").channels[0] as Float32Array)], [100 / 32768, 200 / 32768]);
  });
});

describe("encodeWav / writeWav", () => {
  test("PCM16 round trip is exact to one LSB, bytes are deterministic", () => {
    const x = sine(1000, 440, 16000, 0.9);
    const a = encodeWav(x, 16000);
    const b = encodeWav(x, 16000);
    assert.deepEqual(a.bytes, b.bytes);
    assert.equal(a.bytes.length, 44 + 2000);
    assert.equal(Buffer.from(a.bytes.subarray(0, 4)).toString("latin1"), "RIFF");
    const back = decodeWav(a.bytes, "mem.wav");
    assert.equal(back.sampleRate, 16000);
    const y = back.channels[0] as Float32Array;
    for (let i = 0; i < x.length; i++) {
      const q = (x[i] as number) * 32767;
      assert.equal(Math.round((y[i] as number) * 32768) + 0, Math.sign(q) * Math.round(Math.abs(q)) + 0);
    }
  });
  test("float32 round trip is exact, multichannel interleaves", () => {
    const l = sine(500, 300, 22050, 1.5); // > 1 is fine in float
    const r = sine(500, 700, 22050, 0.2);
    const { bytes, report } = encodeWav([l, r], 22050, { encoding: "float32" });
    assert.equal(report.clippedSamples, 0);
    const back = decodeWav(bytes, "f.wav");
    assert.deepEqual(back.channels[0], l);
    assert.deepEqual(back.channels[1], r);
  });
  test("overflow never wraps: clamp counts, rescale scales, error throws", () => {
    const x = new Float32Array([0.5, 1.5, -2, 1, -1]);
    const clamp = encodeWav(x, 8000);
    assert.equal(clamp.report.clippedSamples, 2);
    assert.equal(clamp.report.peak, 2);
    const v = new DataView(clamp.bytes.buffer);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => v.getInt16(44 + 2 * i, true)),
      [16384, 32767, -32767, 32767, -32767],
    );
    const rescale = encodeWav(x, 8000, { clipMode: "rescale" });
    assert.equal(rescale.report.scale, 0.5);
    assert.equal(rescale.report.clippedSamples, 0);
    const w = new DataView(rescale.bytes.buffer);
    assert.deepEqual(
      [0, 1, 2].map((i) => w.getInt16(44 + 2 * i, true)),
      [8192, 24575, -32767],
    );
    assertAudioError(() => encodeWav(x, 8000, { clipMode: "error" }), /peak .* above 1/);
    assertAudioError(
      () => encodeWav(new Float32Array([0, Number.NaN]), 8000),
      /sample 1 of channel 0 is NaN/,
    );
  });
  test("writeWav writes atomically, warns on clipping, and decodeAudioFile reads it back", async () => {
    const path = join(dir, "sub", "out.wav");
    const warnings: string[] = [];
    const report = await writeWav(path, new Float32Array([0, 1.25, -0.5]), 16000, {
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(report.clippedSamples, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /out\.wav: clipped 1 samples/);
    const back = await decodeAudioFile(path);
    assert.deepEqual(
      [...(back.channels[0] as Float32Array)],
      [0, 32767 / 32768, -16384 / 32768].map(Math.fround),
    );
    await writeWav(path, new Float32Array([0.1]), 16000, {
      encoding: "float32",
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(warnings.length, 1);
    assert.equal((await decodeAudioFile(path)).channels[0]?.[0], Math.fround(0.1));
    await assertRejectsAudio(
      writeWav(join(dir, "e.wav"), new Float32Array([3]), 16000, { clipMode: "error" }),
      /e\.wav: peak/,
    );
  });
});

describe("bad input raises AudioError naming the file and the problem", () => {
  const good = buildWav({
    formatTag: 1,
    channels: 1,
    sampleRate: 16000,
    bits: 16,
    data: bytesOf([1, 2, 3, 4], 16, "int"),
  });
  test("missing file", async () => {
    await assertRejectsAudio(decodeAudioFile(join(dir, "nope.wav")), /nope\.wav: file not found/);
    await assertRejectsAudio(loadAudio(join(dir, "nope.flac")), /nope\.flac: file not found/);
  });
  test("truncated and corrupt headers", () => {
    assertAudioError(() => decodeWav(good.subarray(0, 10), "t.wav"), /t\.wav: truncated WAV header/);
    assertAudioError(
      () => decodeWav(good.subarray(0, 30), "t.wav"),
      /t\.wav: truncated or corrupt fmt chunk/,
    );
    assertAudioError(() => decodeWav(good.subarray(0, 36), "t.wav"), /t\.wav: .*no data chunk/);
    const noFmt = good.slice();
    noFmt.set([0x6a, 0x75, 0x6e, 0x6b], 12); // "fmt " -> "junk"
    assertAudioError(() => decodeWav(noFmt, "c.wav"), /c\.wav: corrupt WAV header: no fmt chunk/);
    const zeroCh = good.slice();
    zeroCh[22] = 0;
    assertAudioError(() => decodeWav(zeroCh, "c.wav"), /0 channels/);
  });
  test("data chunk running past the end of the file", () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 1,
      sampleRate: 16000,
      bits: 16,
      data: bytesOf([1, 2], 16, "int"),
      dataSizeOverride: 4000,
    });
    assertAudioError(
      () => decodeWav(wav, "cut.wav"),
      /cut\.wav: truncated WAV data: the data chunk declares 4000 bytes but only 4 remain/,
    );
  });
  test("unknown codec", async () => {
    const mulaw = buildWav({ formatTag: 7, channels: 1, sampleRate: 8000, bits: 8, data: new Uint8Array(4) });
    assertAudioError(() => decodeWav(mulaw, "u.wav"), /u\.wav: unsupported WAV codec mu-law/);
    const path = join(dir, "noise.bin");
    writeFileSync(
      path,
      new Uint8Array(256).map((_, i) => (i * 37 + 11) & 0xff),
    );
    await assertRejectsAudio(decodeAudioFile(path), /noise\.bin: unknown audio format/);
    const empty = join(dir, "empty.mp3");
    writeFileSync(empty, new Uint8Array(0));
    await assertRejectsAudio(decodeAudioFile(empty), /empty\.mp3: file is empty/);
  });
  test("zero-length, all-NaN and non-finite audio", async () => {
    const zero = join(dir, "zero.wav");
    writeFileSync(
      zero,
      buildWav({ formatTag: 1, channels: 1, sampleRate: 16000, bits: 16, data: new Uint8Array(0) }),
    );
    await assertRejectsAudio(loadAudio(zero), /zero\.wav: zero-length audio/);
    const nan = join(dir, "nan.wav");
    writeFileSync(
      nan,
      buildWav({
        formatTag: 3,
        channels: 1,
        sampleRate: 16000,
        bits: 32,
        data: bytesOf([NaN, NaN, NaN], 32, "float"),
      }),
    );
    await assertRejectsAudio(loadAudio(nan), /nan\.wav: all 3 samples are NaN/);
    const inf = join(dir, "inf.wav");
    writeFileSync(
      inf,
      buildWav({
        formatTag: 3,
        channels: 1,
        sampleRate: 16000,
        bits: 32,
        data: bytesOf([0.5, Infinity, NaN], 32, "float"),
      }),
    );
    await assertRejectsAudio(loadAudio(inf), /inf\.wav: audio contains 1 NaN and 1 infinite samples of 3/);
  });
});

describe("mono, fixLength, loadAudio", () => {
  test("downmixToMono averages channels", () => {
    const m = downmixToMono([new Float32Array([1, 0, 0.5]), new Float32Array([0, 0, -0.5])]);
    assert.deepEqual([...m], [0.5, 0, 0]);
  });
  test("fixLength pads with zeros or trims, like librosa.util.fix_length", () => {
    assert.deepEqual([...fixLength(new Float32Array([1, 2]), 4)], [1, 2, 0, 0]);
    assert.deepEqual([...fixLength(new Float32Array([1, 2, 3]), 2)], [1, 2]);
    assert.equal(fixLength(new Float32Array(0), 3).length, 3);
  });
  test("loadAudio mixes to mono and resamples to 16 kHz", async () => {
    const rate = 44100;
    const l = sine(rate, 1000, rate, 0.4);
    const r = sine(rate, 1000, rate, 0.2);
    const path = join(dir, "stereo.wav");
    await writeWav(path, [l, r], rate, { encoding: "float32" });
    const loaded = await loadAudio(path);
    assert.equal(loaded.sampleRate, 16000);
    assert.equal(loaded.originalSampleRate, 44100);
    assert.equal(loaded.originalChannels, 2);
    assert.equal(loaded.samples.length, 16000);
    assert.equal(loaded.durationSeconds, 1);
    const level = rms(loaded.samples, 2000, 14000) * Math.SQRT2;
    assert.ok(Math.abs(level - 0.3) < 1e-3, `amplitude ${level}`);
  });
});

describe("resample: anti-aliased windowed sinc", () => {
  /** Amplitude of a sine of known frequency by least squares over the middle of the signal. */
  function toneAmplitude(x: Float32Array, freq: number, rate: number): number {
    let ss = 0;
    let cc = 0;
    let sc = 0;
    let xs = 0;
    let xc = 0;
    const from = Math.floor(x.length / 4);
    const to = Math.floor((3 * x.length) / 4);
    for (let i = from; i < to; i++) {
      const s = Math.sin((2 * Math.PI * freq * i) / rate);
      const c = Math.cos((2 * Math.PI * freq * i) / rate);
      ss += s * s;
      cc += c * c;
      sc += s * c;
      xs += (x[i] as number) * s;
      xc += (x[i] as number) * c;
    }
    const det = ss * cc - sc * sc;
    const a = (xs * cc - xc * sc) / det;
    const b = (xc * ss - xs * sc) / det;
    return Math.hypot(a, b);
  }
  test("length is ceil(n · to / from) and equal rates copy", () => {
    assert.equal(resample(new Float32Array(44101), 44100, 16000).length, Math.ceil((44101 * 16000) / 44100));
    const x = new Float32Array([1, 2, 3]);
    const y = resample(x, 16000, 16000);
    assert.deepEqual(y, x);
    assert.notEqual(y, x);
  });
  test("passband: tones up to 0.85 × Nyquist keep their amplitude within 0.01 dB (0.05 dB at 0.9×)", () => {
    for (const [from, to] of [
      [44100, 16000],
      [48000, 16000],
      [8000, 16000],
    ] as const) {
      for (const f of [100, 1000, 3000, 0.85 * Math.min(from, to) * 0.5, 0.9 * Math.min(from, to) * 0.5]) {
        const y = resample(sine(from, f, from, 0.5), from, to);
        const gainDb = 20 * Math.log10(toneAmplitude(y, f, to) / 0.5);
        const tolerance = f > 0.86 * Math.min(from, to) * 0.5 ? 0.05 : 0.01;
        assert.ok(
          Math.abs(gainDb) < tolerance,
          `${from}→${to} Hz, ${f} Hz tone: gain ${gainDb.toFixed(4)} dB`,
        );
      }
    }
  });
  test("stopband: a sweep from 8.4 to 22 kHz at 44.1 kHz comes out more than 120 dB down at 16 kHz", () => {
    const rate = 44100;
    const n = rate; // 1 s linear sweep
    const x = new Float32Array(n);
    const f0 = 8400;
    const f1 = 22000;
    for (let i = 0; i < n; i++) {
      const t = i / rate;
      x[i] = 0.5 * Math.sin(2 * Math.PI * (f0 * t + ((f1 - f0) * t * t) / 2));
    }
    const y = resample(x, rate, 16000);
    const attenuation = 20 * Math.log10(rms(y, 500, y.length - 500) / rms(x));
    assert.ok(attenuation < -120, `aliasing only ${attenuation.toFixed(1)} dB down`);
    // a single tone just above the new Nyquist is also gone
    const z = resample(sine(rate, 9000, rate, 0.5), rate, 16000);
    assert.ok(20 * Math.log10(rms(z, 500, z.length - 500) / 0.3536) < -120);
  });
  test("rejects bad rates", () => {
    assertAudioError(() => resample(new Float32Array(4), 0, 16000), /sample rates must be positive/);
  });
});

test("decodeAudioFile reads raw bytes it wrote (file sanity)", async () => {
  const path = join(dir, "s.wav");
  await writeWav(path, sine(160, 440, 16000), 16000);
  const bytes = readFileSync(path);
  assert.equal(bytes.length, 44 + 320);
});
