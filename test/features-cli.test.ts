import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { inflateSync } from "node:zlib";
import { Command } from "commander";
import { AudioError, writeWav } from "../src/audio/index.js";
import { registerFeaturesCommand } from "../src/cli/features.js";
import { crc32, decodeNpy, seedFeatures } from "../src/features/index.js";
import { loadAudio } from "../src/audio/index.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-features-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function program(): Command {
  const p = new Command("stemscope").exitOverride();
  p.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerFeaturesCommand(p);
  return p;
}

test("stemscope features writes the seed features as .npy and a PNG", async () => {
  const rate = 22050;
  const x = new Float32Array(rate * 3);
  for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * (300 + i / 50) * i) / rate);
  const wav = join(dir, "in.wav");
  await writeWav(wav, [x, x], rate);
  const npy = join(dir, "out", "f.npy");
  const png = join(dir, "out", "f.png");
  const written: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await program().parseAsync(["node", "stemscope", "features", wav, "--out", npy, "--png", png]);
  } finally {
    process.stdout.write = orig;
  }
  assert.match(
    written.join(""),
    /f\.npy: seed features \[128, 128\] of 2\.00 s of .*in\.wav \(2 ch, 22050 Hz\)/,
  );
  const { data, shape } = decodeNpy(readFileSync(npy), npy);
  assert.deepEqual(shape, [128, 128]);
  const expected = seedFeatures((await loadAudio(wav)).samples);
  assert.deepEqual(data, expected);

  const bytes = new Uint8Array(readFileSync(png));
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // walk the chunks, check CRCs, collect IDAT
  let off = 8;
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  while (off < bytes.length) {
    const len = view.getUint32(off);
    const type = Buffer.from(bytes.subarray(off + 4, off + 8)).toString("latin1");
    assert.equal(view.getUint32(off + 8 + len), crc32(bytes.subarray(off + 4, off + 8 + len)), `${type} CRC`);
    if (type === "IHDR") {
      width = view.getUint32(off + 8);
      height = view.getUint32(off + 12);
      assert.equal(bytes[off + 16], 8);
      assert.equal(bytes[off + 17], 0);
    }
    if (type === "IDAT") idat.push(bytes.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  assert.equal(width, 128);
  assert.equal(height, 128);
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, 128 * 129);
  // bottom image row = mel band 0
  for (const c of [0, 40, 127]) {
    assert.equal(raw[127 * 129 + 1 + c], Math.round(255 * (expected[c] as number)));
    assert.equal(raw[0 * 129 + 1 + c], Math.round(255 * (expected[127 * 128 + c] as number)));
  }
});

test("stemscope features --mode native, and errors name the file", async () => {
  const wav = join(dir, "n.wav");
  await writeWav(
    wav,
    new Float32Array(16000).map((_, i) => 0.2 * Math.sin(i / 5)),
    16000,
  );
  const npy = join(dir, "n.npy");
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await program().parseAsync(["node", "stemscope", "features", wav, "--out", npy, "--mode", "native"]);
  } finally {
    process.stdout.write = orig;
  }
  assert.deepEqual(decodeNpy(readFileSync(npy)).shape, [128, 128]);
  await assert.rejects(
    program().parseAsync(["node", "stemscope", "features", join(dir, "missing.wav"), "--out", npy]),
    (e: unknown) => e instanceof AudioError && /missing\.wav: file not found/.test(e.message),
  );
  await assert.rejects(
    program().parseAsync(["node", "stemscope", "features", wav, "--out", join(dir, "x.txt")]),
    /expected a file name ending in \.npy/,
  );
  await assert.rejects(
    program().parseAsync(["node", "stemscope", "features", wav, "--out", npy, "--mode", "fast"]),
  );
});

test("stemscope features: an unwritable --png leaves no .npy behind, and an earlier .npy unchanged", async () => {
  const wav = join(dir, "p.wav");
  await writeWav(
    wav,
    new Float32Array(16000).map((_, i) => 0.2 * Math.sin(i / 5)),
    16000,
  );
  const notAFolder = join(dir, "not-a-folder");
  writeFileSync(notAFolder, "x");
  const png = join(notAFolder, "f.png"); // its parent is a file: ENOTDIR
  const npy = join(dir, "p.npy");
  await assert.rejects(
    program().parseAsync(["node", "stemscope", "features", wav, "--out", npy, "--png", png]),
  );
  assert.equal(existsSync(npy), false);
  writeFileSync(npy, "earlier");
  await assert.rejects(
    program().parseAsync(["node", "stemscope", "features", wav, "--out", npy, "--png", png]),
  );
  assert.equal(readFileSync(npy, "utf8"), "earlier");
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith(".tmp")),
    [],
  );
});
