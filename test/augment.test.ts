import assert from "node:assert/strict";
import { test } from "node:test";
import { augmentBatch, augmentedCopies, DEFAULT_AUGMENT, REFERENCE_AUGMENT } from "../src/train/augment.js";
import { Random } from "../src/util/random.js";

const shape = { batch: 3, k: 2, rows: 16, cols: 10 };
const plane = shape.rows * shape.cols;

function randomPlanes(count: number, seed: number): Float32Array {
  const r = new Random(seed);
  // a quarter zeros (the floor), the rest in (0, 1)
  return Float32Array.from({ length: count * plane }, () => (r.bool(0.25) ? 0 : 0.05 + 0.9 * r.float()));
}

test("augment: off settings are the identity; the same random stream gives the same batch", () => {
  const mix = randomPlanes(shape.batch, 1);
  const src = randomPlanes(shape.batch * shape.k, 2);
  const [m, s] = [mix.slice(), src.slice()];
  augmentBatch(m, s, shape, { eqDb: 0, shiftBins: 0, freqMask: 0, timeMask: 0, topDb: 80 }, new Random(3));
  assert.deepEqual(m, mix);
  assert.deepEqual(s, src);

  const run = () => {
    const [m2, s2] = [mix.slice(), src.slice()];
    augmentBatch(m2, s2, shape, { ...DEFAULT_AUGMENT, topDb: 80 }, new Random(9));
    return [m2, s2];
  };
  const [a, b] = [run(), run()];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a[0], mix, "default settings changed nothing");
  for (const v of [...a[0]!, ...a[1]!]) assert.ok(v >= 0 && v <= 1, `value ${v} left [0, 1]`);
});

test("augment: augmentedCopies leaves the batch as it is and returns what augmentBatch makes of copies", () => {
  const mix = randomPlanes(shape.batch, 4);
  const src = randomPlanes(shape.batch * shape.k, 5);
  const [m, s] = [mix.slice(), src.slice()];
  const settings = { ...REFERENCE_AUGMENT, topDb: 80 };
  const copies = augmentedCopies(m, s, shape, settings, new Random(6));
  assert.deepEqual(m, mix);
  assert.deepEqual(s, src);
  augmentBatch(m, s, shape, settings, new Random(6));
  assert.deepEqual(copies.mixture, m);
  assert.deepEqual(copies.sources, s);
  assert.notDeepEqual(copies.sources, src);
});

test("augment: a sample's mixture and sources get the same change; zeros stay zero", () => {
  // Sources that are copies of their mixture must stay copies of the augmented mixture.
  const mix = randomPlanes(shape.batch, 4);
  const src = new Float32Array(shape.batch * shape.k * plane);
  for (let b = 0; b < shape.batch; b++)
    for (let s = 0; s < shape.k; s++)
      src.set(mix.subarray(b * plane, (b + 1) * plane), (b * shape.k + s) * plane);
  const zerosBefore = mix.filter((v) => v === 0).length;
  augmentBatch(mix, src, shape, { ...DEFAULT_AUGMENT, shiftBins: 0, topDb: 80 }, new Random(5));
  for (let b = 0; b < shape.batch; b++)
    for (let s = 0; s < shape.k; s++)
      assert.deepEqual(
        src.subarray((b * shape.k + s) * plane, (b * shape.k + s + 1) * plane),
        mix.subarray(b * plane, (b + 1) * plane),
      );
  // Without a shift nothing moves, so every former zero is still zero (masks only add zeros).
  assert.ok(mix.filter((v) => v === 0).length >= zerosBefore);
});

test("augment: a mel shift moves rows and fills the vacated ones with silence; EQ is a per-row gain in dB", () => {
  const one = { batch: 1, k: 1, rows: 16, cols: 10 };
  const mix = Float32Array.from({ length: plane }, (_, i) => 0.1 + 0.8 * (Math.floor(i / 10) / 16)); // row value
  const src = mix.slice();
  // Find a stream whose draws give a nonzero shift; shift-only settings otherwise.
  const settings = { eqDb: 0, shiftBins: 2, freqMask: 0, timeMask: 0, topDb: 80 };
  let seed = 0;
  let out = mix.slice();
  let shift = 0;
  for (; shift === 0 && seed < 50; seed++) {
    out = mix.slice();
    augmentBatch(out, src.slice(), one, settings, new Random(seed));
    // the row value pattern identifies the shift
    shift = Math.round(((out[8 * 10]! - 0.1) / 0.8) * 16) - 8;
    shift = -shift;
  }
  assert.notEqual(shift, 0, "no shift drawn in 50 seeds");
  for (let r = 0; r < 16; r++) {
    const from = r - shift;
    for (let c = 0; c < 10; c++) {
      const expected = from < 0 || from >= 16 ? 0 : mix[from * 10 + c]!;
      assert.equal(out[r * 10 + c], expected, `row ${r}, shift ${shift}`);
    }
  }

  // EQ alone: every changed value moved by the same amount along its row (a gain), by at most eqDb.
  const eq = mix.slice();
  augmentBatch(
    eq,
    src.slice(),
    one,
    { eqDb: 6, shiftBins: 0, freqMask: 0, timeMask: 0, topDb: 80 },
    new Random(1),
  );
  for (let r = 0; r < 16; r++) {
    const delta = eq[r * 10]! - mix[r * 10]!;
    assert.ok(Math.abs(delta) <= (6 * 1.5) / 80 + 1e-6, `row ${r} moved ${delta * 80} dB`);
    for (let c = 1; c < 10; c++) assert.ok(Math.abs(eq[r * 10 + c]! - mix[r * 10 + c]! - delta) < 1e-6);
  }
});

test("augment: a batch of the wrong size is refused", () => {
  assert.throws(
    () =>
      augmentBatch(
        new Float32Array(3),
        new Float32Array(6),
        shape,
        { ...DEFAULT_AUGMENT, topDb: 80 },
        new Random(0),
      ),
    /augmentBatch: expected 480 mixture and 960 source values, got 3 and 6/,
  );
});
