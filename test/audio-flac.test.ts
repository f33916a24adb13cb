import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AudioError, decodeAudioFile, loadAudio } from "../src/audio/index.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-flac-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** MSB-first bit writer. */
class Bits {
  private readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;
  write(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | (Math.floor(value / 2 ** i) & 1);
      if (++this.n === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  align(): void {
    while (this.n !== 0) this.write(0, 1);
  }
  take(): number[] {
    this.align();
    return this.bytes.splice(0);
  }
}

function crc8(bytes: number[]): number {
  let c = 0;
  for (const b of bytes) {
    c ^= b;
    for (let i = 0; i < 8; i++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
  }
  return c;
}

function crc16(bytes: number[]): number {
  let c = 0;
  for (const b of bytes) {
    c ^= b << 8;
    for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
  }
  return c;
}

/**
 * A minimal FLAC encoder (16-bit, independent channels, VERBATIM subframes, fixed 4096-sample
 * blocks) so the audio-decode path is tested without binary fixtures. Spec: xiph.org/flac/format.html.
 */
function encodeFlac(channels: Int16Array[], sampleRate: number): Uint8Array {
  if (sampleRate > 65535) throw new Error("test encoder: sample rate must fit 16 bits");
  const nch = channels.length;
  const total = (channels[0] as Int16Array).length;
  const block = 4096;
  const out: number[] = [0x66, 0x4c, 0x61, 0x43]; // "fLaC"
  const info = new Bits();
  info.write(block, 16);
  info.write(block, 16);
  info.write(0, 24);
  info.write(0, 24);
  info.write(sampleRate, 20);
  info.write(nch - 1, 3);
  info.write(15, 5);
  info.write(total, 36);
  for (let i = 0; i < 16; i++) info.write(0, 8); // MD5 unknown
  const body = info.take();
  out.push(0x80, 0, 0, body.length, ...body); // last metadata block, STREAMINFO
  for (let frame = 0, start = 0; start < total; frame++, start += block) {
    const size = Math.min(block, total - start);
    const h = new Bits();
    h.write(0xfff8, 16); // sync + fixed block size
    h.write(7, 4); // block size: 16-bit (size − 1) at end of header
    h.write(13, 4); // sample rate: 16-bit value in Hz at end of header (frame decoders may not see STREAMINFO)
    h.write(nch - 1, 4); // independent channels
    h.write(4, 3); // 16 bits per sample
    h.write(0, 1);
    if (frame < 0x80) h.write(frame, 8);
    else throw new Error("test encoder: too many frames");
    h.write(size - 1, 16);
    h.write(sampleRate, 16);
    const header = h.take();
    const f = [...header, crc8(header)];
    const sub = new Bits();
    for (const ch of channels) {
      sub.write(0, 1);
      sub.write(1, 6); // VERBATIM
      sub.write(0, 1);
      for (let i = 0; i < size; i++) sub.write((ch[start + i] as number) & 0xffff, 16);
    }
    f.push(...sub.take());
    const crc = crc16(f);
    f.push(crc >> 8, crc & 0xff);
    out.push(...f);
  }
  return new Uint8Array(out);
}

test("FLAC decodes through audio-decode: values, channels, rate, then loadAudio resamples", async () => {
  const n = 10000;
  const l = new Int16Array(n);
  const r = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    l[i] = Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 22050));
    r[i] = Math.round(-8000 * Math.sin((2 * Math.PI * 660 * i) / 22050));
  }
  const path = join(dir, "tone.flac");
  writeFileSync(path, encodeFlac([l, r], 22050));
  const decoded = await decodeAudioFile(path);
  assert.equal(decoded.sampleRate, 22050);
  assert.equal(decoded.channels.length, 2);
  assert.equal(decoded.channels[0]?.length, n);
  // audio-decode's FLAC decoder scales 16-bit samples by 1/32767 (our WAV reader: 1/32768, as
  // libsndfile), so allow that relative difference.
  for (const i of [0, 1, 123, 4095, 4096, 9999]) {
    assert.ok(Math.abs((decoded.channels[0]?.[i] as number) - (l[i] as number) / 32768) < 2e-5, `left ${i}`);
    assert.ok(Math.abs((decoded.channels[1]?.[i] as number) - (r[i] as number) / 32768) < 2e-5, `right ${i}`);
  }
  const loaded = await loadAudio(path);
  assert.equal(loaded.sampleRate, 16000);
  assert.equal(loaded.originalChannels, 2);
  assert.equal(loaded.samples.length, Math.ceil((n * 16000) / 22050));
});

test("a corrupt FLAC stream raises AudioError naming the file", async () => {
  const bytes = encodeFlac([new Int16Array(5000).fill(1000)], 16000);
  const path = join(dir, "bad.flac");
  writeFileSync(path, bytes.subarray(0, 50)); // header only, frames cut off
  await assert.rejects(
    loadAudio(path),
    (e: unknown) => e instanceof AudioError && /bad\.flac: /.test(e.message),
  );
});
